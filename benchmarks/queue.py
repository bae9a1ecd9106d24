"""Merge-queue benchmark: a fleet whose gate runs a real test suite, with the queue and inline.

N builtin agents drain T independent tasks, each session a simulated D s, on a work repo whose
suite is a real pytest run of sleeping tests lasting about S s (wall, not CPU: the CPU must not
decide). With the queue, loops submit and go on while one runner tests batches; inline, every
landing is a gated push (the loop's pre-push check and the upstream's pre-receive, serially).

    .venv/bin/python -m benchmarks.queue [--agents 8] [--tasks 64] [--delay 4] [--suite 2 8]
                                         [--breaking 0.1] [--inline-tasks 16]

Prints, per suite length, parallel efficiency (ideal T·D/N over wall), suite runs per landed
change, and with a fraction of breaking tasks that none of them lands and every other does.
Targets (issue 14): efficiency >= 0.85 at S = 2 s, >= 0.7 at S = 8 s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import hermetic_env
from harness.git.repo import GitRepo, identity_env
from harness.initrepo import init_work_repo
from harness.loop.events import read_events
from harness.runtime.base import FleetSpec
from harness.runtime.local import LocalRuntime, is_running
from harness.tasks.specs import TaskSpec, spec_path

SLEEPERS = 10  # tests in the suite; each sleeps suite/SLEEPERS seconds
CONFIG = """\
version: 1
tests:
  runner: pytest
  args: ["-p", "no:cacheprovider", "tests"]
queue:
  enabled: {queue}
tasks:
  max_attempts: 1
"""
SUITE = """\
import time
from pathlib import Path

import pytest


@pytest.mark.parametrize("n", range({sleepers}))
def test_sleeper(n):
    time.sleep({each})


def test_no_task_broke_the_product():
    broken = [p.name for p in Path("src").glob("*.txt") if "BROKEN" in p.read_text()]
    assert broken == []
"""


@dataclass(frozen=True)
class Case:
    agents: int
    tasks: int
    delay: float
    suite: float
    breaking: float
    queue: bool


def build(base: Path, case: Case) -> tuple[Path, set[str]]:
    result = init_work_repo(base / "work")
    clone = result.clone
    (clone / "harness.yaml").write_text(CONFIG.format(queue="true" if case.queue else "false"))
    (clone / "tests").mkdir(exist_ok=True)
    (clone / "tests" / "test_suite.py").write_text(SUITE.format(sleepers=SLEEPERS, each=case.suite / SLEEPERS))
    (clone / "src").mkdir(exist_ok=True)
    (clone / "src" / "seed.txt").write_text("seed\n")
    every = max(1, round(1 / case.breaking)) if case.breaking else 0
    breaking = {f"t{i:03d}" for i in range(case.tasks) if every and i % every == every - 1}
    for i in range(case.tasks):
        task = f"t{i:03d}"
        text = "BROKEN" if task in breaking else task
        body = f"@sleep {case.delay}\n@write src/{task}.txt\n{text}\n@end\n"
        spec = TaskSpec(id=task, title=f"task {i}", body=body, files=(f"src/{task}.txt",))
        (clone / spec_path(task)).write_bytes(spec.to_yaml())
    repo = GitRepo(clone)
    repo.run("add", "-A")
    repo.run("commit", "-q", "-m", "benchmark project, suite and tasks", env=identity_env("bench"))
    env = {**os.environ, "HARNESS_ROLE": "lead"}  # harness.yaml is protected
    subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=clone, env=env, check=True, capture_output=True)
    return result.upstream, breaking


def run(base: Path, case: Case) -> dict[str, float]:
    upstream, breaking = build(base, case)
    runner = None
    if case.queue:
        log = (base / "queue.log").open("w")
        runner = subprocess.Popen(
            [sys.executable, "-m", "harness", "queue", "run", "--upstream", str(upstream)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wall = drive(base, upstream, case)
    finally:
        if runner is not None:
            runner.send_signal(signal.SIGTERM)
            runner.wait(timeout=120)
    repo = GitRepo(upstream, env={"GIT_DIR": str(upstream)})
    names = repo.out("ls-tree", "--name-only", "main", "src/").split()
    landed = {p.removeprefix("src/").removesuffix(".txt") for p in names}
    good = {f"t{i:03d}" for i in range(case.tasks)} - breaking
    agents = [d for d in sorted((base / "fleet").iterdir()) if d.is_dir()]
    events = [e for d in agents for e in read_events(d / "events.jsonl").events]
    return {
        "wall": wall,
        "ideal": case.tasks * case.delay / case.agents,
        "good_landed": len(good & landed),
        "good": len(good),
        "broken_landed": len(breaking & landed),
        "broken": len(breaking),
        "suite_runs": suite_runs(upstream, case.queue),
        "iterations": len(events),
    }


def drive(base: Path, upstream: Path, case: Case) -> float:
    """Start the fleet; the wall time until every loop has exited (all tasks done or blocked)."""
    runtime = LocalRuntime(root=base / "state")
    args = ("--exit-when-idle", "--idle-backoff", "0.2")
    spec = FleetSpec(
        name="bench",
        upstream=upstream,
        roles={"core-dev": case.agents},
        backend="builtin",
        agent_args=args,
        fleet_dir=base / "fleet",
    )
    start = time.monotonic()
    loops = {int(info.handle) for info in runtime.up(spec)}
    while any(is_running(pid) for pid in loops):
        time.sleep(0.05)
    return time.monotonic() - start


def suite_runs(upstream: Path, queue: bool) -> float:
    if queue:
        journal = json.loads((upstream / "harness" / "queue" / "journal.json").read_text())
        return float(journal["suite_runs"])
    # Inline: the upstream's gate keeps one log per suite run it made.
    return float(len(list((upstream / "harness" / "logs").glob("*.log"))))


def report(label: str, case: Case, r: dict[str, float]) -> None:
    landed = r["good_landed"] + r["broken_landed"]
    print(
        f"  {label:<7} suite {case.suite:>3g} s  tasks {case.tasks:>3}  wall {r['wall']:6.1f} s"
        f"  ideal {r['ideal']:5.1f} s  efficiency {r['ideal'] / r['wall']:4.2f}"
        f"  suite runs/landed {r['suite_runs'] / max(landed, 1):4.2f}"
        f"  landed: good {r['good_landed']:.0f}/{r['good']:.0f}, breaking {r['broken_landed']:.0f}/{r['broken']:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--tasks", type=int, default=64)
    parser.add_argument("--delay", type=float, default=4.0)
    parser.add_argument("--suite", type=float, nargs="+", default=[2.0, 8.0])
    parser.add_argument("--breaking", type=float, default=0.1, help="fraction of tasks that break a test (one run)")
    parser.add_argument("--inline-tasks", type=int, default=16, help="tasks for the inline-gate runs (they are slow)")
    parser.add_argument("--keep", type=Path, default=None)
    ns = parser.parse_args()
    root = ns.keep or Path(tempfile.mkdtemp(prefix="harness-bench-queue-"))
    hermetic_env(root / "home")
    print(f"merge queue: {ns.agents} builtin agents, sessions of {ns.delay:g} s, a pytest suite of sleeping tests")
    n = 0
    for suite in ns.suite:
        for label, tasks, breaking, queue in (
            ("queue", ns.tasks, 0.0, True),
            ("inline", ns.inline_tasks, 0.0, False),
        ):
            n += 1
            case = Case(ns.agents, tasks, ns.delay, suite, breaking, queue)
            report(label, case, run(root / f"run{n}", case))
    if ns.breaking:
        n += 1
        case = Case(ns.agents, ns.tasks, ns.delay, ns.suite[0], ns.breaking, True)
        report("queue", case, run(root / f"run{n}", case))
        print(f"  (with {ns.breaking:.0%} of tasks breaking a test; tasks.max_attempts 1, so each is refused once)")


if __name__ == "__main__":
    main()
