"""The loop's record: one JSON line per iteration in an events file.

Written with a single ``write`` on a file opened for appending, so lines from several
loops sharing one file (a fleet) never interleave. Readers skip a torn last line.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class IterationEvent:
    agent: str
    role: str
    iteration: int
    started_at: float  # unix seconds
    task: str | None = None
    outcome: str = ""  # done | released-by-agent | no-change | failed | timeout | killed | stopped |
    #                    rate-limited | lost | parked | refused | fenced | error | idle
    duration_seconds: float = 0.0  # the whole iteration
    session_seconds: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    commits_pushed: int = 0
    claims_lost: int = 0  # claim races lost before winning (or giving up)
    conflicts_resolved: list[str] = field(default_factory=list)
    pushes_refused: int = 0
    session_exit: str = ""
    log: str = ""
    error: str = ""
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step, session excluded

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=False)


def append_event(path: Path, event: IterationEvent) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (event.to_json() + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict):
            events.append(data)
    return events
