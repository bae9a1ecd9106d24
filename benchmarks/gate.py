"""Gate and test-runner benchmark, side by side.

    .venv/bin/python -m benchmarks.gate [--pushes 30] [--files 2000] [--parallel 200] [--checks 5] [--rounds 5]

(a) a lock-only push (only current_tasks/ changed) through the installed pre-receive gate
    over the same push to an unhooked upstream. Target <= 1.3x.
(b) `--fast` at 5% over a 2,000-file `files` suite against the full run. Target <= 0.10x.
(c) the `files` runner with 2 workers over 1 worker, on tests that wait (I/O, sleep: the
    compiler-suite shape is a process per test) and on tests that burn CPU. Target >= 1.7x
    (speed-up, so higher is better). CPU-bound results depend on the machine being idle.
(d) the gate's check of one push on a 40-test pytest project, with the isolation (sandbox,
    `python -I`, the JSON reporter) against without (the plain runner: list, then run), and the
    sandbox's fixed cost per command (what the `files` runner pays per test). Target <= 1.3x.
(e) suite runs per landed push through the installed hook, code pushes alternating with
    lock-only pushes, counted in the gate's run journal. Target 1, never 2.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import hermetic_env
from benchmarks.gate_isolation import bench_isolation, bench_runs_per_push
from harness.config import SuiteSettings
from harness.gate.hooks import install_hooks
from harness.initrepo import init_work_repo
from harness.testing.suite import run_suite


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def lock_only_push_seconds(clone: Path, i: int) -> float:
    lock = clone / "current_tasks" / f"task-{i}.lock"
    lock.write_text(f"task: task-{i}\nagent: bench\nnonce: {i:032x}\n")
    git(clone, "add", str(lock))
    git(clone, "commit", "-q", "-m", f"claim: task-{i}")
    start = time.perf_counter()
    git(clone, "push", "-q", "origin", "HEAD:main")
    return time.perf_counter() - start


def bench_lock_only(base: Path, pushes: int) -> tuple[float, float]:
    clones = {}
    for name in ("plain", "gated"):
        result = init_work_repo(base / name)
        clones[name] = result.clone
        if name == "gated":
            install_hooks(result.upstream)
    times: dict[str, list[float]] = {"plain": [], "gated": []}
    for i in range(pushes):  # interleaved, so machine load hits both alike
        for name, clone in clones.items():
            times[name].append(lock_only_push_seconds(clone, i))
    return statistics.median(times["plain"]), statistics.median(times["gated"])


def make_suite(root: Path, n: int, body: str) -> None:
    (root / "t").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / "t" / f"{i:05d}.sh").write_text(body)


def timed_run(root: Path, settings: SuiteSettings, fraction: float | None = None) -> float:
    start = time.perf_counter()
    run = run_suite(root, settings, root / "log" / "run.log", fraction=fraction, seed="core-dev-03")
    assert not run.failures(), run.failures()[:3]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pushes", type=int, default=30)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--parallel", type=int, default=200)
    parser.add_argument("--checks", type=int, default=5, help="(d) gate checks per side")
    parser.add_argument("--rounds", type=int, default=5, help="(e) code pushes, each followed by a lock-only one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as tmp:
        base = Path(tmp)
        hermetic_env(base / "home")

        plain, gated = bench_lock_only(base / "push", args.pushes)
        print(
            f"(a) lock-only push  unhooked {plain * 1000:7.1f} ms   gated {gated * 1000:7.1f} ms   "
            f"ratio {gated / plain:.2f}x  (target <= 1.3x, median of {args.pushes})"
        )

        suite = base / "suite"
        make_suite(suite, args.files, "exit 0\n")
        settings = SuiteSettings(runner="files", glob="t/*.sh", run="sh {test}", workers=2)
        full = timed_run(suite, settings)
        fast = timed_run(suite, settings, fraction=0.05)
        print(
            f"(b) {args.files}-file suite  full {full:7.2f} s   --fast 5% {fast:7.2f} s   "
            f"ratio {fast / full:.3f}x  (target <= 0.10x)"
        )

        for label, body in (("waiting", "sleep 0.05\n"), ("cpu", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done\n")):
            root = base / f"par-{label}"
            make_suite(root, args.parallel, body)
            one = timed_run(root, SuiteSettings(runner="files", glob="t/*.sh", run="sh {test}", workers=1))
            two = timed_run(root, SuiteSettings(runner="files", glob="t/*.sh", run="sh {test}", workers=2))
            print(
                f"(c) {args.parallel} {label:7} tests  1 worker {one:6.2f} s   2 workers {two:6.2f} s   "
                f"speed-up {one / two:.2f}x  (target >= 1.7x)"
            )

        plain, isolated, fixed, mode = bench_isolation(base / "isolation", args.checks)
        print(
            f"(d) 40-test pytest push  gate without isolation {plain:6.2f} s   with ({mode}) {isolated:6.2f} s   "
            f"ratio {isolated / plain:.2f}x  (target <= 1.3x, median of {args.checks}); "
            f"sandbox fixed cost {fixed * 1000:.0f} ms per command"
        )
        runs, landed, worst = bench_runs_per_push(base / "runs", args.rounds)
        print(
            f"(e) {landed} landed code pushes, {landed} lock-only pushes between them: {runs} suite runs, "
            f"{runs / landed:.2f} per landed push, at most {worst} for one  (target 1, never 2)"
        )


if __name__ == "__main__":
    main()
