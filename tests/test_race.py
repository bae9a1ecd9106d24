"""Invariant 1 proven by racing OS processes, each with its own clone, through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import WorkRepo

RACERS = 16
TRIALS = 3
# Each racer sleeps until a shared start time so that all pushes really collide.
_STARTER = (
    "import sys, time\n"
    "from harness.cli.main import main\n"
    "time.sleep(max(0.0, float(sys.argv[1]) - time.time()))\n"
    "main(sys.argv[2:])\n"
)


def race(work: WorkRepo, clones: list[Path], tasks: list[str]) -> list[subprocess.CompletedProcess[str]]:
    start_at = time.time() + 2.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _STARTER, str(start_at), "claim", task, "--repo", str(clone), "--agent", clone.name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for clone, task in zip(clones, tasks, strict=True)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def times_added(work: WorkRepo, path: str) -> int:
    log = work.upstream_git("log", "--format=%H", "--diff-filter=A", "main", "--", path)
    return len(log.split())


@pytest.mark.slow
@pytest.mark.parametrize("shared", [False, True], ids=["fetching-clones", "clones-borrowing-objects"])
def test_racers_for_one_task_exactly_one_wins(work: WorkRepo, shared: bool) -> None:
    clones = [work.clone(f"racer-{i:02d}", shared=shared) for i in range(RACERS)]
    for trial in range(TRIALS):
        task = f"hot-{trial}"
        results = race(work, clones, [task] * RACERS)
        codes = sorted(r.returncode for r in results)
        assert codes == [0] + [3] * (RACERS - 1), [(r.returncode, r.stderr.strip()) for r in results]
        losers = [r for r in results if r.returncode == 3]
        assert all(r.stderr.count("\n") == 1 and "held by racer-" in r.stderr for r in losers)
        assert times_added(work, f"current_tasks/{task}.lock") == 1
        (winner,) = (r for r in results if r.returncode == 0)
        holder = winner.args[winner.args.index("--agent") + 1]
        assert f"agent: {holder}" in (work.upstream_file(f"current_tasks/{task}.lock") or "")
    work.upstream_git("fsck", "--strict")


@pytest.mark.slow
def test_racers_for_distinct_tasks_all_land_once(work: WorkRepo) -> None:
    clones = [work.clone(f"racer-{i:02d}") for i in range(RACERS)]
    tasks = [f"task-{i:02d}" for i in range(RACERS)]
    results = race(work, clones, tasks)
    assert [r.returncode for r in results] == [0] * RACERS, [r.stderr for r in results if r.returncode]
    listing = work.upstream_git("ls-tree", "--name-only", "main", "current_tasks/").split()
    assert sorted(p for p in listing if p.endswith(".lock")) == [f"current_tasks/{t}.lock" for t in tasks]
    assert all(times_added(work, f"current_tasks/{t}.lock") == 1 for t in tasks)
    work.upstream_git("fsck", "--strict")
