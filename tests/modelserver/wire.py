"""What every vendor module hands the HTTP server: a status, a body, its type, extra headers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


def sse(events: Iterable[tuple[str | None, Any]]) -> bytes:
    """Server-sent events: ``event: NAME`` (when named) and one ``data:`` line of JSON each."""
    out = []
    for name, data in events:
        head = f"event: {name}\n" if name else ""
        out.append(f"{head}data: {json.dumps(data)}\n\n")
    return "".join(out).encode()
