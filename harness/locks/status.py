"""``harness status``: every entry of current_tasks/ at the upstream tip, with liveness."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from harness.git.publish import fetch_main
from harness.git.repo import GitRepo
from harness.locks.claim import Clock, reconcile
from harness.locks.heartbeats import fetch_heartbeats, liveness
from harness.locks.snapshot import read_snapshot
from harness.workspace import Workspace


class StatusKind(StrEnum):
    """What an entry of current_tasks/ is."""

    LOCK = "lock"  # a lock harness wrote
    FOREIGN = "foreign"  # a file harness did not write (a person's note): it holds the task all the same
    MALFORMED = "malformed"  # a .lock file harness cannot read


@dataclass(frozen=True, kw_only=True)
class StatusRow:
    task: str
    path: str
    agent: str | None
    role: str | None
    generation: int | None
    age_seconds: float | None  # since claimed, by our clock
    heartbeat_age_seconds: float | None
    stale: bool
    kind: StatusKind
    problem: str = ""
    note: str = ""
    container: str | None = None  # the holder's container state in a Docker fleet; "gone" if none
    queued: bool = False  # the holder's work waits in the merge queue (refs/harness/queue/<task>)


# Nothing authenticates a pusher yet: the gate's roles are what the pushing process says
# (docs/gate.md, "Roles and their limits"). Shown by every `harness status`.
ROLE_TRUST = (
    "roles: unverified: HARNESS_ROLE is the pusher's word; a local upstream cannot prove who pushes (docs/gate.md)"
)


@dataclass(frozen=True)
class StatusReport:
    tip: str | None
    rows: list[StatusRow]
    notes: list[str]  # what reconciliation settled
    role_trust: str = ROLE_TRUST
    problems: list[str] = field(default_factory=list)  # specs malformed or never claimable, by file

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"tip": self.tip, "locks": [asdict(r) for r in self.rows], "notes": self.notes}
        return data | {"roles": self.role_trust, "problems": self.problems}


def status(ws: Workspace, clock: Clock = time.time) -> StatusReport:
    tip = fetch_main(ws.repo, ws.config.branch)
    snap = read_snapshot(ws.repo, tip)
    notes = reconcile(ws, snap)
    beats = fetch_heartbeats(ws.repo) if snap.entries else {}
    queued = queued_tasks(ws.repo) if snap.entries else set()
    now = clock()
    rows = []
    for task, entry in sorted(snap.entries.items()):
        if entry.lock is None:
            kind = StatusKind.MALFORMED if entry.path.endswith(".lock") else StatusKind.FOREIGN
            rows.append(
                StatusRow(
                    task=task,
                    path=entry.path,
                    agent=None,
                    role=None,
                    generation=None,
                    age_seconds=None,
                    heartbeat_age_seconds=None,
                    stale=False,
                    kind=kind,
                    problem=entry.problem,
                    note=entry.first_line,
                )
            )
            continue
        lock = entry.lock
        live = liveness(lock, beats, ws.config.locks, now)
        beat_age = now - live.heartbeat if live.heartbeat is not None else None
        rows.append(
            StatusRow(
                task=task,
                path=entry.path,
                agent=lock.agent,
                role=lock.role,
                generation=lock.generation,
                age_seconds=now - lock.claimed_at,
                heartbeat_age_seconds=beat_age,
                # A queued task's holder may be gone: the runner lands or hands it back.
                stale=live.stale and task not in queued,
                kind=StatusKind.LOCK,
                problem=live.future,
                note=lock.note,
                queued=task in queued,
            )
        )
    return StatusReport(tip, rows, notes, problems=snap.problems())


def queued_tasks(repo: GitRepo) -> set[str]:
    """Tasks with a submission waiting in the merge queue: the refs' names, no objects fetched."""
    prefix = "refs/harness/queue/"
    proc = repo.run("ls-remote", "origin", f"{prefix}*", check=False)
    if proc.returncode != 0:
        return set()  # status still shows the locks; the queue's state is `harness queue status`
    names = (line.split("\t", 1)[-1] for line in proc.stdout.decode(errors="replace").splitlines())
    return {name.removeprefix(prefix) for name in names if name.startswith(prefix)}


def with_containers(report: StatusReport, states: Mapping[str, str]) -> StatusReport:
    """The report with each holder's container state (``states``: agent -> state, from ps)."""
    rows = [replace(r, container=states.get(r.agent, "gone")) if r.agent else r for r in report.rows]
    return replace(report, rows=rows)
