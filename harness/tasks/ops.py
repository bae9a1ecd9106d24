"""Task specs on the upstream: add one (published like a claim), list, choose next."""

from __future__ import annotations

import time
from dataclasses import dataclass

from harness.errors import HarnessError, UsageError
from harness.git.publish import Change, Published, fetch_main, publish
from harness.locks.lockfile import utc_iso, validate_task_id
from harness.locks.snapshot import Snapshot, read_snapshot
from harness.tasks.deps import cycle_through
from harness.tasks.specs import TaskSpec, claimable, parse_spec, spec_path, unclaimable_reason
from harness.workspace import Workspace


def add_task(ws: Workspace, spec: TaskSpec) -> Published:
    validate_task_id(spec.id)
    for dep in spec.depends_on:
        validate_task_id(dep)
    if not spec.created_at:
        spec = TaskSpec(**{**spec.__dict__, "created_at": utc_iso(time.time())})
    path = spec_path(spec.id)
    parse_spec(path, spec.to_yaml())  # the same validation a hand-written spec gets

    def decide(tip: str | None) -> Change:
        if tip is not None and ws.repo.read_blobs(tip, [path])[path] is not None:
            raise HarnessError(f"{path} already exists upstream; edit it in a commit or pick another id")
        check_dependencies(read_snapshot(ws.repo, tip), spec)
        return Change({path: spec.to_yaml()}, f"task: add {spec.id}\n\n{spec.title}\n\nHarness-Agent: {ws.agent}\n")

    published = publish(ws.repo, ws.agent, decide, ws.config.branch)
    assert published is not None
    return published


def check_dependencies(snap: Snapshot, spec: TaskSpec) -> None:
    """Refuse a spec whose ``depends_on`` names a task with no spec or closes a cycle."""
    for dep in spec.depends_on:
        if dep != spec.id and dep not in snap.specs:
            raise UsageError(f"--depends-on {dep}: no task spec tasks/{dep}.yaml upstream; add that task first")
    specs = {**snap.specs, spec.id: spec}
    cycle = cycle_through({t: s.depends_on for t, s in specs.items() if not s.done}, spec.id)
    if cycle:
        raise UsageError(f"--depends-on: would make the dependency cycle {' -> '.join(cycle)}; drop one of them")


def snapshot_at_tip(ws: Workspace) -> Snapshot:
    tip = fetch_main(ws.repo, ws.config.branch)
    return read_snapshot(ws.repo, tip)


@dataclass(frozen=True, kw_only=True)
class TaskRow:
    id: str
    title: str
    state: str  # done | held | blocked | ready
    detail: str
    priority: int
    role: str | None
    depends_on: list[str]
    accept: list[str]


def task_rows(snap: Snapshot) -> list[TaskRow]:
    board = snap.board()
    rows = []
    for task, spec in sorted(snap.specs.items()):
        lock = board.locks.get(task)
        if spec.done:
            state, detail = "done", spec.done_by
        elif lock is not None:
            state, detail = "held", lock.agent
        elif task in board.foreign:
            state, detail = "held", "foreign lock"
        else:
            reason = unclaimable_reason(board, task)
            state, detail = ("blocked", reason) if reason else ("ready", "")
        rows.append(
            TaskRow(
                id=task,
                title=spec.title,
                state=state,
                detail=detail,
                priority=spec.priority,
                role=spec.role,
                depends_on=list(spec.depends_on),
                accept=list(spec.accept),
            )
        )
    return rows


def next_choice(snap: Snapshot, role: str | None) -> TaskSpec | None:
    ranked = claimable(snap.board(), role)
    return ranked[0] if ranked else None
