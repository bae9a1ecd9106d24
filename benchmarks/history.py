"""How long `harness history` takes on a long history, next to the raw `git log` it reads.

Builds (with git fast-import, in a temp dir) a history of N lock commits — claims and
releases by 16 agents with ~40 locks open, free-form .txt locks, in-place edits and a sweep
every 500 commits — interleaved with as many ordinary work commits, then times, best of R:

  git log   the exact `git log --first-parent --raw -z … -- current_tasks/` history runs
  history   load_history + stats in-process (git log + git cat-file + parsing)
  cli       `python -m harness history --json` as a user runs it (adds start-up and imports)
  report    `python -m harness report` (adds the HTML/SVG rendering)

Usage: .venv/bin/python -m benchmarks.history [--commits 10000] [--work-per-lock 1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness.config import LockSettings
from harness.git.repo import GitRepo
from harness.history.gitlog import log_argv
from harness.history.holds import load_history
from harness.history.stats import Window, history_stats
from harness.locks.lockfile import Lock

AGENTS = [f"core-dev-{i:02d}" for i in range(1, 15)] + ["dedup-01", "perf-01"]


def _data(text: str) -> str:
    return f"data {len(text.encode())}\n{text}\n"


def build(repo: Path, lock_commits: int, work_per_lock: int, seed: int = 7) -> None:
    """A synthetic fleet history written straight into a fresh repository."""
    rng = random.Random(seed)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    t = 1_700_000_000
    open_locks: dict[str, str] = {}  # path -> agent
    out = [f"commit refs/heads/main\ncommitter init <i@x> {t} +0000\n{_data('init')}"]
    out.append("M 100644 inline current_tasks/README.md\n" + _data("locks live here"))
    serial = 0
    for n in range(lock_commits):
        t += rng.randint(5, 60)
        for w in range(work_per_lock):
            out.append(f"commit refs/heads/main\ncommitter w <w@x> {t} +0000\n{_data(f'work {n}.{w}')}")
            out.append(f"M 100644 inline src/f{rng.randint(0, 200)}.c\n" + _data(f"int v{n}_{w};"))
        agent = rng.choice(AGENTS)
        header = f"commit refs/heads/main\ncommitter {agent} <{agent}@harness.invalid> {t} +0000\n"
        if n % 500 == 499 and len(open_locks) >= 3:
            swept = rng.sample(sorted(open_locks), len(open_locks) // 2)
            out.append(header + _data("sweep stale locks") + "".join(f"D {p}\n" for p in swept))
            for path in swept:
                del open_locks[path]
        elif open_locks and (len(open_locks) >= 40 or rng.random() < 0.45):
            path = rng.choice(sorted(open_locks))
            task = path.rsplit("/", 1)[1].rsplit(".", 1)[0]
            if rng.random() < 0.1:
                out.append(header + _data(f"update {task}") + f"M 100644 inline {path}\n" + _data(f"status: {n}"))
            else:
                del open_locks[path]
                out.append(header + _data(f"release: {task} (done)\n\nHarness-Agent: {agent}") + f"D {path}\n")
        else:
            serial += 1
            task = f"task-{serial % 3000}"  # names get re-used, as in real fleets
            while any(p.startswith(f"current_tasks/{task}.") for p in open_locks):
                serial += 1
                task = f"task-{serial % 3000}"
            if rng.random() < 0.15:
                path, content = f"current_tasks/{task}.txt", f"claimed by {agent}: fix {task}\n"
            else:
                path = f"current_tasks/{task}.lock"
                lock = Lock(
                    task=task,
                    agent=agent,
                    role=agent.rsplit("-", 1)[0],
                    host="box",
                    nonce=f"{serial:032x}",
                    generation=1,
                    claimed_at=float(t),
                    lease_seconds=1800,
                )
                content = lock.to_yaml().decode()
            open_locks[path] = agent
            msg = f"claim: {task}\n\nHarness-Agent: {agent}"
            out.append(header + _data(msg) + f"M 100644 inline {path}\n" + _data(content))
    stream = "".join(out).encode()
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=stream, check=True)


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (git, the CLI)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def best_of(repeat: int, func: Callable[[], object]) -> tuple[float, float]:
    """Best wall-clock and best CPU seconds: CPU time stays honest on a loaded machine."""
    walls, cpus = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), _cpu()
        func()
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu() - start_cpu)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=10_000, help="lock commits")
    parser.add_argument("--work-per-lock", type=int, default=1, help="ordinary commits between lock commits")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo_path = Path(tmp) / "fleet"
        started = time.perf_counter()
        build(repo_path, args.commits, args.work_per_lock)
        repo = GitRepo(repo_path)
        total = int(repo.out("rev-list", "--count", "main"))
        print(f"built {total} commits ({args.commits} lock commits) in {time.perf_counter() - started:.1f} s")
        raw = best_of(args.repeat, lambda: repo.run(*log_argv("main")))
        history = load_history(repo, "main")

        def in_process() -> None:
            stats_of = load_history(repo, "main")
            history_stats(stats_of, Window(None, time.time()), LockSettings())

        lib = best_of(args.repeat, in_process)
        cli = [sys.executable, "-m", "harness", "history", "--json", "--rev", "main", "--repo", str(repo_path)]
        cli_t = best_of(args.repeat, lambda: subprocess.run(cli, check=True, capture_output=True))
        page = Path(tmp) / "r.html"
        rep = [sys.executable, "-m", "harness", "report", str(page), "--rev", "main", "--repo", str(repo_path)]
        rep_t = best_of(args.repeat, lambda: subprocess.run(rep, check=True, capture_output=True))
        stats = history_stats(history, Window(None, time.time()), LockSettings())
        print(
            f"history found {history.commits} lock commits: {stats['claims']} claims, {stats['releases']} releases, "
            f"{stats['sweeps']} sweeps, max {stats['max_open']} open, median hold {stats['hold_seconds']['median']} s"
        )
        print(f"{'what':34} {'wall s':>8} {'x git log':>10} {'cpu s':>8} {'x git log':>10}")
        for name, (wall, cpu) in (
            ("git log (raw read)", raw),
            ("history, in-process", lib),
            ("harness history --json (CLI)", cli_t),
            ("harness report (CLI)", rep_t),
        ):
            print(f"{name:34} {wall:8.3f} {wall / raw[0]:10.2f} {cpu:8.3f} {cpu / raw[1]:10.2f}")
        print(f"report size: {page.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
