"""What every command module shares: the common flags, the workspace they open, JSON output.

Command modules import this, never ``harness.cli.main`` (which imports them by name), so the
CLI has no import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:  # imported by the commands that open one, not by every command module
    from harness.workspace import Workspace

F = TypeVar("F", bound=Callable[..., Any])


def common(func: F) -> F:
    """--repo and --agent, taken by every command (DESIGN.md, command surface)."""
    func = click.option("--agent", default=None, help="agent id (default: $HARNESS_AGENT, else host-pid)")(func)
    func = click.option(
        "--repo", default=".", type=click.Path(file_okay=False, path_type=Path), help="the clone to act in"
    )(func)
    return func


def workspace(repo: Path, agent: str | None) -> Workspace:
    """The clone at ``repo`` (--repo) and the agent acting in it (--agent, else the default)."""
    from harness.workspace import open_workspace

    return open_workspace(repo, agent)


def emit_json(data: Any) -> None:
    import json  # only the commands asked for --json pay for it

    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))
