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
    QUEUED = "queued"  # the work and the release went to the merge queue, which lands or refuses it
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


# The note of the release that hands a task back after the gate refused its work: the lock
# history (history/holds.py) tells refused holds from other hand-backs by it.
REFUSED_NOTE = "push refused"


@dataclass(kw_only=True)
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

    @classmethod
    def from_json(cls, data: Any) -> IterationEvent:
        """A line ``to_json`` wrote; ValueError or TypeError for anything else (keys a newer
        loop may add are ignored)."""
        if not isinstance(data, dict):
            raise TypeError("not a JSON object")
        known = {k: v for k, v in data.items() if k in _TYPES}
        for key, value in known.items():
            if isinstance(value, bool) or not isinstance(value, _TYPES[key]):
                raise TypeError(f"{key}: {value!r}")
        known["outcome"] = IterationOutcome(data.get("outcome", ""))  # required: a line is written once it ended
        return cls(**known)

    @property
    def ended_at(self) -> float:
        return self.started_at + self.duration_seconds

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


# What each key of a line may hold (JSON has no tuples; ints are fine where floats are).
_TYPES: dict[str, type | tuple[type, ...]] = {
    "agent": str,
    "role": str,
    "iteration": int,
    "started_at": (int, float),
    "task": (str, type(None)),
    "outcome": str,
    "duration_seconds": (int, float),
    "session_seconds": (int, float),
    "input_tokens": int,
    "output_tokens": int,
    "cost_usd": (int, float),
    "commits_pushed": int,
    "claims_lost": int,
    "conflicts_resolved": list,
    "pushes_refused": int,
    "session_exit": str,
    "log": str,
    "error": str,
    "steps": dict,
}


def append_event(path: Path, event: IterationEvent) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (event.to_json() + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class EventsFile:
    path: Path
    events: list[IterationEvent] = field(default_factory=list)
    bad_lines: int = 0  # torn by a kill mid-write, or not the loop's
    found: bool = True  # False: no such file yet (no iteration has ended)


def read_events(path: Path) -> EventsFile:
    """Every iteration in ``path``, the one reader of the events file (status views, the
    fleet's ps, the demo's summary, benchmarks). Never fails on a line: a fleet's owner wants
    the numbers that exist, not a traceback because one agent was killed mid-write."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return EventsFile(path, found=False)
    events: list[IterationEvent] = []
    bad = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            events.append(IterationEvent.from_json(json.loads(line)))
        except (ValueError, TypeError):
            bad += 1
    return EventsFile(path, events, bad)
