"""Parts (d) and (e) of benchmarks/gate.py: what the gate's isolation costs, and suite runs per push.

    .venv/bin/python -m benchmarks.gate        (prints all parts, these two last)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from harness.gate.baseline import BaselineStore
from harness.gate.check import check, scratch_dir
from harness.gate.runs import JOURNAL, GateSite, read_journal
from harness.git.repo import GitRepo
from harness.initrepo import init_work_repo
from harness.runtime.sandbox import Sandbox, detect

CONFIG = """\
version: 1
branch: main
tests:
  runner: pytest
  args: [tests]
gate:
  protected: [harness.yaml]
"""


def write_project(root: Path, tests: int = 40) -> None:
    """``tests`` tests in files of ten, each doing a little real work."""
    (root / "tests").mkdir(parents=True, exist_ok=True)
    (root / "calc.py").write_text("def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n")
    for f in range(tests // 10):
        body = "from calc import fib\n\n"
        body += "".join(f"\ndef test_fib_{f}_{i}():\n    assert fib({12 + i % 4}) > 0\n" for i in range(10))
        (root / "tests" / f"test_calc_{f}.py").write_text(body)


def git(cwd: Path, *args: str, role: str = "lead") -> str:
    env = {**os.environ, "HARNESS_ROLE": role}
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=env).stdout


def commit_all(clone: Path, message: str) -> str:
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", message)
    return git(clone, "rev-parse", "HEAD").strip()


def bench_isolation(base: Path, checks: int) -> tuple[float, float, float, str]:
    """Median seconds of one gate check (old tip's baseline at hand) without and with isolation;
    the sandbox's fixed cost per command; the isolation mode."""
    work = init_work_repo(base / "work")
    clone = work.clone
    (clone / "harness.yaml").write_text(CONFIG)
    write_project(clone)
    old = commit_all(clone, "project")
    (clone / "calc.py").write_text((clone / "calc.py").read_text() + "\n\ndef double(x):\n    return 2 * x\n")
    new = commit_all(clone, "work")
    repo = GitRepo(clone)
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(checks):
        for isolate in (False, True):  # interleaved, so machine load hits both alike
            store = BaselineStore(base / f"state-{isolate}" / "baseline")
            with scratch_dir(base / "tmp") as scratch:
                site = GateSite(repo=repo, stores=(), write=store, scratch=scratch, role="lead", isolate=isolate)
                if store.load(old) is None:
                    check(site, None, old, _quiet)  # the old tip's baseline, outside the timing
                start = time.perf_counter()
                result = check(site, old, new, _quiet)
                times[isolate].append(time.perf_counter() - start)
            assert result.verdict is not None and len(result.verdict.passed) == 40, result
    with Sandbox().box(base / "tmp") as box:
        fixed = statistics.median(_timed(lambda: box.run(["/bin/true"], 60)) for _ in range(10))
    return statistics.median(times[False]), statistics.median(times[True]), fixed, detect().mode.value


def bench_runs_per_push(base: Path, rounds: int) -> tuple[int, int, int]:
    """Suite runs, landed code pushes, and the most runs one landed push cost, through the hook."""
    work = init_work_repo(base / "work")
    clone = work.clone
    (clone / "harness.yaml").write_text(CONFIG)
    write_project(clone, tests=10)
    commit_all(clone, "project")
    git(clone, "push", "-q", "origin", "HEAD:main")
    # A push changing the test settings leaves its baseline to the next push: set it up first.
    (clone / "README.md").write_text("bench\n")
    commit_all(clone, "readme")
    git(clone, "push", "-q", "origin", "HEAD:main")
    journal = work.upstream / "harness" / JOURNAL
    counted = len(read_journal(journal))
    per_push: list[int] = []  # whole-suite runs (re-runs and new tests' pushed forms run a few ids)
    for i in range(rounds):
        (clone / "tests" / f"test_more_{i}.py").write_text(f"def test_more_{i}():\n    pass\n")
        commit_all(clone, f"more tests {i}")
        git(clone, "push", "-q", "origin", "HEAD:main", role="core-dev")
        lock = clone / "current_tasks" / f"task-{i}.lock"
        lock.write_text(f"task: task-{i}\nagent: bench\nnonce: {i:032x}\n")
        commit_all(clone, f"claim: task-{i}")
        git(clone, "push", "-q", "origin", "HEAD:main", role="core-dev")
        entries = read_journal(journal)
        per_push.append(sum(1 for e in entries[counted:] if e["full"]))
        counted = len(entries)
    return sum(per_push), rounds, max(per_push)


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _quiet(_: str) -> None:
    pass
