"""``harness up/down/ps/logs`` and ``harness demo`` (filled in below)."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    pass
