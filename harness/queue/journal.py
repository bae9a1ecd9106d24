"""What the queue runner did, for ``harness queue status`` and the views.

``<upstream>/harness/queue/journal.json``, rewritten atomically by the runner after every
change: the batch under test, and the most recent landings and refusals with their times.
Queued submissions are not in it: they are the refs themselves (submission.py).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from harness.queue.submission import Submission

KEEP = 500  # finished entries kept


class QueueState(StrEnum):
    QUEUED = "queued"
    TESTING = "testing"
    LANDED = "landed"
    REFUSED = "refused"
    BLOCKED = "blocked"
    FENCED = "fenced"


@dataclass(frozen=True, kw_only=True)
class Entry:
    task: str
    agent: str
    state: QueueState
    commit: str
    submitted_at: int
    at: float  # when it reached ``state``
    reason: str = ""
    kept_on: str = ""  # the side ref of refused work


@dataclass
class Journal:
    path: Path
    testing: list[Entry] = field(default_factory=list)
    finished: list[Entry] = field(default_factory=list)
    suite_runs: int = 0
    batches: int = 0
    runner_pid: int = 0

    @classmethod
    def load(cls, path: Path) -> Journal:
        journal = cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return journal
        journal.testing = [_entry(e) for e in data.get("testing", []) if isinstance(e, dict)]
        journal.finished = [_entry(e) for e in data.get("finished", []) if isinstance(e, dict)]
        journal.suite_runs = int(data.get("suite_runs", 0))
        journal.batches = int(data.get("batches", 0))
        journal.runner_pid = int(data.get("runner_pid", 0))
        return journal

    def record(self, subs: Iterable[Submission], state: QueueState, reason: str = "", kept_on: str = "") -> None:
        now = time.time()
        for sub in subs:
            self.finished.append(
                Entry(
                    task=sub.task,
                    agent=sub.agent,
                    state=state,
                    commit=sub.commit,
                    submitted_at=sub.submitted_at,
                    at=now,
                    reason=reason,
                    kept_on=kept_on,
                )
            )
        self.finished = self.finished[-KEEP:]

    def set_testing(self, subs: Iterable[Submission]) -> None:
        now = time.time()
        testing = QueueState.TESTING
        self.testing = [
            Entry(task=s.task, agent=s.agent, state=testing, commit=s.commit, submitted_at=s.submitted_at, at=now)
            for s in subs
        ]

    def save(self) -> None:
        data: dict[str, Any] = {
            "runner_pid": self.runner_pid,
            "suite_runs": self.suite_runs,
            "batches": self.batches,
            "testing": [asdict(e) for e in self.testing],
            "finished": [asdict(e) for e in self.finished],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


def _entry(data: dict[str, Any]) -> Entry:
    return Entry(
        task=str(data.get("task", "")),
        agent=str(data.get("agent", "")),
        state=QueueState(data.get("state", "landed")),
        commit=str(data.get("commit", "")),
        submitted_at=int(data.get("submitted_at", 0)),
        at=float(data.get("at", 0)),
        reason=str(data.get("reason", "")),
        kept_on=str(data.get("kept_on", "")),
    )
