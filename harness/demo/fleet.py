"""``harness demo``: the embedded sample project worked on by a local fleet of builtin
(scripted) agents — no API key, no Docker. Shows live progress and ends with a summary
(demo/summary.py): tasks done, claims lost in races, conflicts resolved, pushes refused,
where the agents' time went, and why a task was refused and where its work is kept. The
temporary directory is removed at the end unless ``--dir`` asks to keep everything."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness.demo.project import CONFIG, FILES, RUN_TESTS, demo_tasks
from harness.demo.summary import DemoSummary, summarize, summary_lines
from harness.git.publish import fetch_main
from harness.git.repo import GitRepo, identity_env
from harness.history.events import read_all
from harness.initrepo import init_work_repo
from harness.locks.snapshot import read_snapshot
from harness.runtime.base import FleetSpec
from harness.runtime.fleetrecord import FleetRecord, save_record
from harness.runtime.local import LocalRuntime
from harness.tasks.specs import spec_path

Echo = Callable[[str], None]
FLEET = "demo"
DEMO_TIMEOUT = 900.0


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
    """Run the demo fleet to its end and print its summary. Without ``directory`` everything
    lives in a temporary directory that is removed afterwards, whatever happens."""
    base = (directory or Path(tempfile.mkdtemp(prefix="harness-demo-"))).resolve()
    try:
        return _run(agents, tasks, base, delay, echo, kept=directory is not None)
    finally:
        if directory is None:
            shutil.rmtree(base, ignore_errors=True)


def _run(agents: int, tasks: int, base: Path, delay: float, echo: Echo, kept: bool) -> DemoSummary:
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
    # Recorded with the upstream, so `harness top/ps/history` in the kept work clone find it.
    record = FleetRecord(name=FLEET, runtime="local", upstream=str(upstream), fleet_dir=str(base / "fleet"),
                         backend="builtin", roles={"core-dev": agents}, started_at=time.time())  # fmt: skip
    save_record(upstream, record)
    try:
        _watch(runtime, GitRepo(clone), tasks, echo)
    finally:
        runtime.down(FLEET, timeout=30)
    wall = time.monotonic() - start
    loaded = read_all(runtime.events(FLEET))
    refs = GitRepo(clone).out("ls-remote", "origin", "refs/harness/parked/*").splitlines()
    summary = summarize(
        loaded.events if loaded else [],
        [line.split("\t")[-1] for line in refs if line.strip()],
        total=tasks,
        done=_done_count(GitRepo(clone)),
        agents=agents,
        wall=wall,
        upstream=upstream,
    )
    for line in summary_lines(summary, base if kept else None):
        echo(line)
    return summary


def _watch(runtime: LocalRuntime, repo: GitRepo, total: int, echo: Echo) -> None:
    """A line when an agent takes a task it did not show last, and each time one is done."""
    shown: dict[str, str] = {}
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
