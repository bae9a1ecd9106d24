"""Lock-protocol benchmark: harness claims against raw git doing the same work, side by side.

    .venv/bin/python -m benchmarks.locks [--rounds 20]   (run as a module: benchmarks/bisect.py would shadow the stdlib)

(a) uncontended claim (in-process, and via the CLI: a fresh `harness claim` process) over raw
    `git add/commit/push` of the same kind of file, the three in rotation;
(b) 16 processes claiming 16 distinct tasks, until all landed, over a raw fetch/rebase/push retry loop;
(c) claim latency with 10,000 prior commits over an empty history.
Targets (issue 2): (a) <= 1.5x in-process; (b) <= 1.5x; (c) <= 1.2x.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.common import add_prior_commits, hermetic_env
from harness.initrepo import init_work_repo
from harness.locks.claim import claim
from harness.workspace import Workspace, open_workspace

RAW_RETRY = """
set -e
cd "$1"; f="current_tasks/$2.lock"; echo "agent: $3" > "$f"; git add "$f"; git commit -qm "claim: $2"
until git push -q origin HEAD:main 2>/dev/null; do git pull -q --rebase origin main; done
"""


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def interleaved_medians(fns: Sequence[Callable[[int], None]], rounds: int) -> list[float]:
    """Medians of each, measured in rotation so that drift in the machine's load hits all alike."""
    samples: list[list[float]] = [[] for _ in fns]
    for i in range(rounds):
        for fn, into in zip(fns, samples, strict=True):
            start = time.perf_counter()
            fn(i)
            into.append(time.perf_counter() - start)
    return [statistics.median(s) for s in samples]


def new_work(base: Path, name: str) -> tuple[Path, Path]:
    result = init_work_repo(base / name)
    return result.clone, result.upstream


def clone(upstream: Path, target: Path) -> Path:
    git(upstream.parent, "clone", "-q", str(upstream), str(target))
    return target


def bench_uncontended(base: Path, rounds: int) -> None:
    work, _ = new_work(base, "a")
    raw_work, _ = new_work(base, "a-raw")  # its own: raw commits on the harness clone would need a pull per round
    ws = open_workspace(work, "bench")

    def raw(i: int) -> None:
        path = raw_work / "current_tasks" / f"raw-{i}.lock"
        path.write_text(f"agent: bench\nnonce: {i}\n")
        git(raw_work, "add", str(path))
        git(raw_work, "commit", "-qm", f"claim: raw-{i}")
        git(raw_work, "push", "-q", "origin", "HEAD:main")

    def in_process(i: int) -> None:
        claim(ws, f"inproc-{i}")

    def via_cli(i: int) -> None:
        subprocess.run(
            [str(Path(sys.executable).parent / "harness"), "claim", f"cli-{i}", "--agent", "bench"],
            cwd=work,
            check=True,
            capture_output=True,
        )

    t_raw, t_in, t_cli = interleaved_medians([raw, in_process, via_cli], rounds)
    print(
        f"(a) uncontended claim: raw git {t_raw * 1000:.0f} ms | in-process {t_in * 1000:.0f} ms "
        f"= {t_in / t_raw:.2f}x (target <= 1.5) | CLI {t_cli * 1000:.0f} ms = {t_cli / t_raw:.2f}x"
    )


def race(procs: list[list[str]], cwd: Path) -> float:
    start = time.perf_counter()
    running = [subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for argv in procs]
    codes = [p.wait() for p in running]
    if any(codes):
        raise SystemExit(f"a racer failed: {codes}")
    return time.perf_counter() - start


def bench_contended(base: Path, racers: int) -> None:
    _, up_h = new_work(base, "b-harness")
    _, up_r = new_work(base, "b-raw")
    clones_h = [clone(up_h, base / "bh" / f"c{i}") for i in range(racers)]
    clones_r = [clone(up_r, base / "br" / f"c{i}") for i in range(racers)]
    harness_argv = [
        [str(Path(sys.executable).parent / "harness"), "claim", f"t{i}", "--repo", str(c), "--agent", f"a{i}"]
        for i, c in enumerate(clones_h)
    ]
    raw_argv = [["bash", "-c", RAW_RETRY, "raw", str(c), f"t{i}", f"a{i}"] for i, c in enumerate(clones_r)]
    t_h = race(harness_argv, base)
    t_r = race(raw_argv, base)
    print(
        f"(b) {racers} processes, {racers} distinct tasks: raw retry loop {t_r:.2f} s | "
        f"harness {t_h:.2f} s = {t_h / t_r:.2f}x (target <= 1.5)"
    )


def _claim(ws: Workspace, task: str) -> None:
    claim(ws, task)


def bench_history(base: Path, rounds: int, commits: int) -> None:
    empty, _ = new_work(base, "c-empty")
    deep, _ = new_work(base, "c-deep")
    add_prior_commits(deep, commits)
    ws_empty, ws_deep = open_workspace(empty, "bench"), open_workspace(deep, "bench")
    t_empty, t_deep = interleaved_medians(
        [lambda i: _claim(ws_empty, f"e-{i}"), lambda i: _claim(ws_deep, f"d-{i}")], rounds
    )
    print(
        f"(c) claim with {commits} prior commits {t_deep * 1000:.0f} ms | empty history {t_empty * 1000:.0f} ms "
        f"= {t_deep / t_empty:.2f}x (target <= 1.2)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--racers", type=int, default=16)
    parser.add_argument("--commits", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as tmp:
        base = Path(tmp)
        hermetic_env(base)
        print(f"lock benchmark on {os.cpu_count()} cores, medians of {args.rounds} rounds")
        bench_uncontended(base, args.rounds)
        bench_contended(base, args.racers)
        bench_history(base, args.rounds, args.commits)


if __name__ == "__main__":
    main()
