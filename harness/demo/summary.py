"""The demo's closing summary: what the fleet did, where its time went, and what was refused
and where that work is kept.

Time is counted in agent-seconds (agents × wall time) and split four ways from the loops'
events: the sessions (the scripted agents' own work), the gate (the tests before each push
in the agent's clone, and the push itself, which on a gated upstream waits for the
upstream's gate to test it, one push at a time), waiting (no task claimable: dependencies,
other agents' locks; and starting up), and the rest (sync, claims, rebases). The demo's
sessions take a fraction of a second, so the gate dominates, as it does for a real project
whose suite takes longer than an agent's change; nothing in the summary hides that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.loop.events import IterationEvent, IterationOutcome


@dataclass(frozen=True, kw_only=True)
class Refusal:
    task: str
    times: int
    reason: str  # the first ERROR line the gate gave
    refs: list[str]  # where the refused work is kept


@dataclass(frozen=True, kw_only=True)
class DemoSummary:
    total: int
    done: int
    iterations: int
    claims_lost: int
    conflicts_resolved: int
    pushes_refused: int
    agents: int
    wall_seconds: float
    session_seconds: float
    gate_seconds: float
    busy_seconds: float  # inside iterations, all steps
    refusals: list[Refusal] = field(default_factory=list)
    upstream: Path | None = None  # kept (--dir): where to look at the refs

    @property
    def agent_seconds(self) -> float:
        return self.agents * self.wall_seconds


def summarize(
    events: Sequence[IterationEvent],
    parked: Sequence[str],
    *,
    total: int,
    done: int,
    agents: int,
    wall: float,
    upstream: Path | None = None,
) -> DemoSummary:
    return DemoSummary(
        upstream=upstream,
        total=total,
        done=done,
        iterations=len(events),
        claims_lost=sum(e.claims_lost for e in events),
        conflicts_resolved=sum(len(e.conflicts_resolved) for e in events),
        pushes_refused=sum(e.pushes_refused for e in events),
        agents=agents,
        wall_seconds=wall,
        session_seconds=sum(e.session_seconds for e in events),
        gate_seconds=sum(e.steps.get("gate", 0.0) + e.steps.get("push", 0.0) for e in events),
        busy_seconds=sum(e.duration_seconds for e in events),
        refusals=refusals(events, parked),
    )


def refusals(events: Sequence[IterationEvent], parked: Sequence[str]) -> list[Refusal]:
    by_task: dict[str, list[IterationEvent]] = {}
    for event in events:
        if event.outcome is IterationOutcome.REFUSED and event.task:
            by_task.setdefault(event.task, []).append(event)
    return [
        Refusal(
            task=task,
            times=len(refused),
            reason=first_error(refused[0].error),
            refs=[ref for ref in parked if f"/{task}-" in ref],
        )
        for task, refused in sorted(by_task.items())
    ]


def first_error(text: str) -> str:
    """The line that names the failing test, else the first line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    named = [line for line in lines if line.startswith("ERROR ")]
    return (named or lines or ["(no reason recorded)"])[0].removeprefix("ERROR ")


def _share(part: float, whole: float) -> str:
    return f"{part:7.1f} s {100 * part / whole:3.0f}%" if whole > 0 else f"{part:7.1f} s"


def summary_lines(s: DemoSummary, kept: Path | None) -> list[str]:
    whole = s.agent_seconds
    waiting = max(0.0, whole - s.busy_seconds)
    other = max(0.0, s.busy_seconds - s.session_seconds - s.gate_seconds)
    lines = [
        "",
        "summary",
        f"  tasks done          {s.done}/{s.total}"
        + ("  (the one left breaks a test: refused, by design)" if s.done == s.total - 1 and s.refusals else ""),
        f"  iterations          {s.iterations}",
        f"  claims lost (races) {s.claims_lost}",
        f"  conflicts resolved  {s.conflicts_resolved}",
        f"  pushes refused      {s.pushes_refused}",
        f"  wall time           {s.wall_seconds:.1f} s for {s.agents} agents = {whole:.1f} agent-seconds:",
        f"    sessions          {_share(s.session_seconds, whole)}  the agents' own work",
        f"    gate              {_share(s.gate_seconds, whole)}  tests before each push, and the upstream's gate"
        " testing it (one push at a time)",
        f"    waiting           {_share(waiting, whole)}  no task claimable yet (dependencies, others' locks),"
        " starting up",
        f"    other             {_share(other, whole)}  sync, claims, rebases",
    ]
    for refusal in s.refusals:
        times = "once" if refusal.times == 1 else f"{refusal.times} times (once per agent that tried it)"
        lines.append(f"  refused: {refusal.task}, {times}: {refusal.reason}")
        if refusal.refs:
            where = f"{len(refusal.refs)} side ref(s) of the upstream, e.g. {refusal.refs[0]}"
            if kept is not None and s.upstream is not None:
                lines.append(f"    its work is kept, not lost: on {where}")
                lines.append(f"    see it: git --git-dir {s.upstream} log -p -1 {refusal.refs[0]}")
            else:
                lines.append(f"    its work went to {where} (removed with the temporary upstream)")
    if kept is not None:
        lines.append(f"  inspect: {kept}/work (git log), {kept}/fleet/<agent>/ (loop.log, logs/, events.jsonl)")
        lines.append(f"  from {kept}/work: harness status, harness history, harness report fleet.html")
    else:
        lines.append("  everything was in a temporary directory, now removed: pass --dir PATH to keep it")
    return lines
