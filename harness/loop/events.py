"""The loop's record: one JSON line per iteration in an events file.

Written with a single ``write`` on a file opened for appending, so lines from several
loops sharing one file (a fleet) never interleave. Readers skip a torn last line.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


class IterationOutcome(StrEnum):
    """How an iteration ended: the ``outcome`` of its line in the events file."""

    DONE = "done"  # the work landed with the release of the task, done
    RELEASED_BY_AGENT = "released-by-agent"  # the agent released the task itself (open mode, or on its own)
    NO_CHANGE = "no-change"  # the session made no commits: handed back
    FAILED = "failed"  # the session exited non-zero: handed back
    TIMEOUT = "timeout"  # the session ran out of time: handed back
    KILLED = "killed"  # the session died of a signal: handed back
    STOPPED = "stopped"  # the loop was asked to stop during the session: handed back
    RATE_LIMITED = "rate-limited"  # the backend refused for rate or quota: handed back, the loop backs off
    LOST = "lost"  # a lock-file conflict on the rebase: the work parked, the task handed back
    PARKED = "parked"  # an unresolved conflict or a failed regenerate: the work parked, handed back
    REFUSED = "refused"  # the gate refused the push: the work parked, handed back
    FENCED = "fenced"  # our lock was reclaimed: the work kept on an orphan ref
    ERROR = "error"  # integrating failed otherwise: handed back
    IDLE = "idle"  # nothing to claim; never written (the loop backs off instead)


@dataclass
class IterationEvent:
    agent: str
    role: str
    iteration: int
    started_at: float  # unix seconds
    task: str | None = None
    outcome: IterationOutcome | None = None  # set when the iteration ends, before it is written
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
