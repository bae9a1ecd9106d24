"""``harness demo``: the embedded sample project worked on by a local fleet of builtin
(scripted) agents — no API key, no Docker. Shows live progress and ends with a summary:
tasks done, claims lost in races, conflicts resolved, pushes refused, wall time against
the ideal (the sessions' total time spread perfectly over the agents)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.demo.project import CONFIG, FILES, RUN_TESTS, demo_tasks
from harness.git.publish import fetch_main
from harness.git.repo import GitRepo, identity_env
from harness.initrepo import init_work_repo
from harness.locks.snapshot import read_snapshot
from harness.loop.events import read_events
from harness.runtime.base import FleetSpec
from harness.runtime.local import LocalRuntime
from harness.tasks.specs import spec_path

Echo = Callable[[str], None]
FLEET = "demo"
DEMO_TIMEOUT = 900.0


@dataclass(frozen=True, kw_only=True)
class DemoSummary:
    total: int
    done: int
    iterations: int
    claims_lost: int
    conflicts_resolved: int
    pushes_refused: int
    wall_seconds: float
    ideal_seconds: float
    parked_refs: list[str]


def build_demo_repo(base: Path, count: int, delay: float) -> tuple[Path, Path]:
    """The sample project and its task specs on a fresh upstream; (clone, upstream)."""
    result = init_work_repo(base / "work")
    clone = result.clone
    for rel, text in {**FILES, "tools/run_tests.py": RUN_TESTS, "harness.yaml": CONFIG}.items():
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        (clone / rel).write_text(text, encoding="utf-8")
    specs = demo_tasks(count, delay)
    for spec in specs:
        (clone / spec_path(spec.id)).write_bytes(spec.to_yaml())
    repo = GitRepo(clone)
    repo.run("add", "-A")
    repo.run(
        "commit",
        "--quiet",
        "-m",
        f"demo: the textkit sample project and {len(specs)} tasks",
        env=identity_env("harness-demo"),
    )
    # harness.yaml is a protected path: the demo's setup pushes it as the lead would.
    repo.run("push", "--quiet", "origin", "HEAD:refs/heads/main", env={"HARNESS_ROLE": "lead"})
    return clone, result.upstream


def run_demo(agents: int, tasks: int, directory: Path | None, delay: float, echo: Echo) -> DemoSummary:
    base = (directory or Path(tempfile.mkdtemp(prefix="harness-demo-"))).resolve()
    base.mkdir(parents=True, exist_ok=True)
    clone, upstream = build_demo_repo(base, tasks, delay)
    echo(f"demo: {tasks} tasks for {agents} builtin agents (scripted, not AI) in {base}")
    runtime = LocalRuntime(root=base / "state")
    loop_args = ("--exit-when-idle", "--idle-backoff", "0.2", "--session-timeout", "300")
    spec = FleetSpec(
        name=FLEET,
        upstream=upstream,
        roles={"core-dev": agents},
        backend="builtin",
        agent_args=loop_args,
        fleet_dir=base / "fleet",
    )
    start = time.monotonic()
    runtime.up(spec)
    try:
        _watch(runtime, GitRepo(clone), tasks, echo)
    finally:
        runtime.down(FLEET, timeout=30)
    summary = _summarize(runtime, GitRepo(clone), tasks, time.monotonic() - start, agents)
    for line in summary_lines(summary, base):
        echo(line)
    return summary


def _watch(runtime: LocalRuntime, repo: GitRepo, total: int, echo: Echo) -> None:
    shown: dict[str, str | None] = {}
    done_shown = -1
    deadline = time.monotonic() + DEMO_TIMEOUT
    while time.monotonic() < deadline:
        infos = runtime.ps(FLEET)
        for info in infos:
            if info.state == "running" and info.task and shown.get(info.agent) != info.task:
                echo(f"  {info.agent} → {info.task}")
            shown[info.agent] = info.task
        done = _done_count(repo)
        if done != done_shown:
            echo(f"done {done}/{total}")
            done_shown = done
        if all(info.state != "running" for info in infos):
            return
        time.sleep(0.3)
    echo(f"ERROR demo: still running after {DEMO_TIMEOUT:.0f} s; stopping the fleet")


def _done_count(repo: GitRepo) -> int:
    snap = read_snapshot(repo, fetch_main(repo))
    return sum(spec.done for spec in snap.specs.values())


def _summarize(runtime: LocalRuntime, repo: GitRepo, total: int, wall: float, agents: int) -> DemoSummary:
    events = [
        e for info in runtime.ps(FLEET) for e in read_events(Path(info.extra["log"]).parent / "events.jsonl").events
    ]
    session_total = sum(e.session_seconds for e in events)
    refs = repo.out("ls-remote", "origin", "refs/harness/parked/*").splitlines()
    return DemoSummary(
        total=total,
        done=_done_count(repo),
        iterations=len(events),
        claims_lost=sum(e.claims_lost for e in events),
        conflicts_resolved=sum(len(e.conflicts_resolved) for e in events),
        pushes_refused=sum(e.pushes_refused for e in events),
        wall_seconds=wall,
        ideal_seconds=session_total / agents,
        parked_refs=[line.split("\t")[-1] for line in refs if line.strip()],
    )


def summary_lines(s: DemoSummary, base: Path) -> list[str]:
    efficiency = s.ideal_seconds / s.wall_seconds if s.wall_seconds else 0.0
    lines = [
        "",
        "summary",
        f"  tasks done          {s.done}/{s.total}"
        + ("  (the one left breaks a test: refused, by design)" if s.done == s.total - 1 else ""),
        f"  iterations          {s.iterations}",
        f"  claims lost (races) {s.claims_lost}",
        f"  conflicts resolved  {s.conflicts_resolved}",
        f"  pushes refused      {s.pushes_refused}",
        f"  wall time           {s.wall_seconds:.1f} s against an ideal {s.ideal_seconds:.1f} s "
        f"(parallel efficiency {efficiency:.2f})",
    ]
    if s.parked_refs:
        lines.append(
            f"  work kept on side refs: {', '.join(s.parked_refs[:4])}"
            + (f" and {len(s.parked_refs) - 4} more" if len(s.parked_refs) > 4 else "")
        )
    lines.append(f"  inspect: {base}/work (git log), {base}/fleet/<agent>/ (loop.log, logs/, events.jsonl)")
    return lines
