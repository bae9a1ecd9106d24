"""``harness top``: one screen of the fleet, rebuilt every few seconds.

A row per agent known from any source: the locks at the upstream tip (``harness status``),
the loop's events (iteration, last outcome, tokens, spend) and, when a fleet runtime is
given, its ``ps`` (container or process state). Tests passing come from the gate's latest
baseline. Every source is optional: a missing one leaves dashes, never an error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.git.upstream import local_upstream_path
from harness.history.events import read_all
from harness.history.testpoints import BASELINE_SUBDIR, baseline_points
from harness.history.textfmt import human_age
from harness.locks.status import StatusKind, StatusReport, status
from harness.loop.events import IterationEvent
from harness.runtime.base import AgentInfo
from harness.workspace import Workspace

Ps = Callable[[], list[AgentInfo]]


@dataclass(kw_only=True)
class TopRow:
    agent: str
    role: str = "-"
    state: str = "-"  # from the runtime: running, exited, …
    task: str = "-"
    lock_age: float | None = None
    heartbeat_age: float | None = None
    stale: bool = False
    iteration: int | None = None
    last_outcome: str = "-"
    tokens: int = 0
    cost: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Frame:
    rows: list[TopRow]
    locks: int
    stale: int
    foreign: int
    tests_passed: int | None
    notes: list[str]
    at: float


def collect(
    ws: Workspace, events: Sequence[Path], ps: Ps | None = None, clock: Callable[[], float] = time.time
) -> Frame:
    """One frame; ``events``: every agent's events file (history.query.events_files)."""
    notes: list[str] = []
    rows: dict[str, TopRow] = {}
    report = _status_or_note(ws, notes, clock)
    if report is not None:
        _add_locks(rows, report)
    loaded = read_all(events)
    for event in loaded.events if loaded else []:
        _add_event(rows.setdefault(event.agent, TopRow(agent=event.agent)), event)
    if ps is not None:
        try:
            for info in ps():
                row = rows.setdefault(info.agent, TopRow(agent=info.agent))
                row.role, row.state = info.role, info.state
                row.iteration = info.iteration if info.iteration is not None else row.iteration
        except HarnessError as exc:
            notes.append(f"fleet state unavailable: {exc}")
    locks = [r for r in report.rows if r.kind is StatusKind.LOCK] if report else []
    upstream = local_upstream_path(ws.repo)
    tests = baseline_points(ws.repo, upstream / BASELINE_SUBDIR if upstream else None, report.tip if report else None)
    return Frame(
        rows=sorted(rows.values(), key=lambda r: r.agent),
        locks=len(locks),
        stale=sum(1 for r in locks if r.stale),
        foreign=len(report.rows) - len(locks) if report else 0,
        tests_passed=tests[-1].passed if tests else None,
        notes=notes,
        at=clock(),
    )


def _status_or_note(ws: Workspace, notes: list[str], clock: Callable[[], float]) -> StatusReport | None:
    try:
        return status(ws, clock)
    except HarnessError as exc:  # upstream down: keep showing what the events say
        notes.append(f"locks unavailable: {exc}")
        return None


def _add_locks(rows: dict[str, TopRow], report: StatusReport) -> None:
    for lock in report.rows:
        if lock.kind is not StatusKind.LOCK or lock.agent is None:
            continue
        row = rows.setdefault(lock.agent, TopRow(agent=lock.agent))
        row.role = lock.role or row.role
        row.task = lock.task if row.task == "-" else f"{row.task},{lock.task}"
        row.lock_age, row.heartbeat_age = lock.age_seconds, lock.heartbeat_age_seconds
        row.stale = row.stale or lock.stale


def _add_event(row: TopRow, event: IterationEvent) -> None:
    row.role = event.role
    row.iteration = event.iteration
    row.last_outcome = str(event.outcome)
    row.tokens += event.tokens
    row.cost += event.cost_usd


def render(frame: Frame, title: str) -> list[str]:
    spend = sum(r.cost for r in frame.rows)
    tests = f"{frame.tests_passed} tests passing" if frame.tests_passed is not None else "tests: -"
    foreign = f", {frame.foreign} foreign" if frame.foreign else ""
    lines = [
        f"{title}  {time.strftime('%H:%M:%S', time.gmtime(frame.at))} UTC  {len(frame.rows)} agents, "
        f"{frame.locks} locks ({frame.stale} stale{foreign}), {tests}, spend ${spend:.2f}",
        *frame.notes,
        "",
        f"{'AGENT':18} {'ROLE':10} {'STATE':8} {'TASK':24} {'HELD':>6} {'BEAT':>6} {'ITER':>5} "
        f"{'LAST':14} {'TOKENS':>9} {'SPEND':>8}",
    ]
    for r in frame.rows:
        task = (r.task + (" STALE" if r.stale else ""))[:24]
        iteration = str(r.iteration) if r.iteration is not None else "-"
        lines.append(
            f"{r.agent[:18]:18} {r.role[:10]:10} {r.state[:8]:8} {task:24} {human_age(r.lock_age):>6} "
            f"{human_age(r.heartbeat_age):>6} {iteration:>5} {r.last_outcome[:14]:14} {r.tokens:>9,} {r.cost:>8.2f}"
        )
    if not frame.rows:
        lines.append("no agents seen yet: no locks held, no loop events")
    return lines
