"""Object reading side by side: this tree's harness against another revision's, in one run.

    .venv/bin/python -m benchmarks.gitobjects [--baseline main] [--rounds 20] [--commits 10000]

The baseline's ``harness/`` is exported (``git archive``) to a temp dir, so both versions
are importable at once without a copy in the tree. Each runs in a worker process of its
own (its package first on ``PYTHONPATH``) and times one operation per request; the two are
asked in rotation (A B A B ...), so load from other processes on the machine hits both
alike. Each operation reports wall-clock and CPU seconds (its own, its finished children's
and the live object readers'), since CPU time is much less disturbed by a loaded machine;
medians are printed with the ratios this/baseline:

(c)      a claim with N prior commits, and with an empty history (benchmarks.locks case c)
history  load_history + history_stats in-process on benchmarks.history's synthetic fleet
         history of N lock commits, and ``python -m harness history --json`` as a user runs it
status   a cold ``python -m harness status``: start-up and imports included

Linux only (live children's CPU from /proc). Its figures for GitPython's reader against the
hand-written one, and the decision they made, are in docs/git.md ("Reading objects").
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.common import add_prior_commits, hermetic_env

Sample = tuple[float, float]  # wall-clock seconds, CPU seconds
ROOT = Path(__file__).resolve().parent.parent  # this tree: benchmarks/ and harness/


def export(rev: str, into: Path) -> Path:
    """``rev``'s harness package, byte-compiled like `make` does for the editable install."""
    tar = subprocess.run(["git", "archive", rev, "harness"], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(into / "harness")], check=True)
    return into


def variant_env(root: Path) -> dict[str, str]:
    # This benchmark's own package comes from this tree; harness from the variant's root.
    # HARNESS_SERVER=0: a baseline older than the fork server's removal runs its CLI cold too.
    return {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{ROOT}", "HARNESS_SERVER": "0"}


class Worker:
    """One harness version in a process of its own, timing operations on request."""

    def __init__(self, root: Path, cwd: Path) -> None:
        self.root = root
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.gitobjects", "--worker"],
            cwd=cwd,  # not this tree: its harness/ would come first on sys.path
            env=variant_env(root),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        loaded = self.ask("where")
        if not loaded.startswith(str(root)):
            raise SystemExit(f"worker for {root} imported harness from {loaded}")

    def ask(self, *words: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(" ".join(words) + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if not answer:
            raise SystemExit(f"the worker for {self.root} died on {words}")
        return answer

    def seconds(self, *words: str) -> Sample:
        wall, cpu = self.ask(*words).split()
        return float(wall), float(cpu)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def cpu_seconds() -> float:
    """CPU of this process, its finished children and its live ones (the persistent readers),
    in the kernel's nanoseconds (``os.times()`` counts 10 ms ticks: too coarse for a claim)."""
    live = 0
    for task in Path("/proc/self/task").iterdir():
        for pid in (task / "children").read_text().split():
            try:
                live += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
            except FileNotFoundError:
                continue  # ended since: its time is in the finished children's
    return time.process_time() + children_cpu() + live / 1e9


def worker() -> None:
    """Answers one line per request: ``where``, ``open``, or an operation's wall and CPU seconds."""
    import harness
    from harness.config import LockSettings
    from harness.git.repo import GitRepo
    from harness.history.holds import load_history
    from harness.history.stats import Window, history_stats
    from harness.locks.claim import claim
    from harness.workspace import Workspace, open_workspace

    workspaces: dict[str, Workspace] = {}
    repos: dict[str, GitRepo] = {}
    for line in sys.stdin:
        command, *args = line.split()
        answer = ""
        start, start_cpu = time.perf_counter(), cpu_seconds()
        if command == "where":
            answer = str(Path(harness.__file__).resolve())
        elif command == "open":  # untimed, as benchmarks.locks opens its workspaces
            workspaces[args[0]] = open_workspace(Path(args[0]), "bench")
        elif command == "repo":
            repos[args[0]] = GitRepo(Path(args[0]))
        elif command == "claim":
            claim(workspaces[args[0]], args[1])
        elif command == "history":
            history = load_history(repos[args[0]], "main")
            history_stats(history, Window(None, time.time()), LockSettings())
        print(answer or f"{time.perf_counter() - start:.6f} {cpu_seconds() - start_cpu:.6f}", flush=True)


def rotate(runs: Sequence[Callable[[int], Sample]], rounds: int) -> list[Sample]:
    """Median wall and median CPU seconds of each, asked in rotation."""
    samples: list[list[Sample]] = [[] for _ in runs]
    for i in range(rounds):
        for run, into in zip(runs, samples, strict=True):
            into.append(run(i))
    return [(statistics.median(w for w, _ in s), statistics.median(c for _, c in s)) for s in samples]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_cli(root: Path, cwd: Path, *argv: str) -> Callable[[int], Sample]:
    def run(_: int) -> Sample:
        start, start_cpu = time.perf_counter(), children_cpu()
        subprocess.run(
            [sys.executable, "-m", "harness", *argv], cwd=cwd, env=variant_env(root), check=True, capture_output=True
        )
        return time.perf_counter() - start, children_cpu() - start_cpu

    return run


def claim_repos(base: Path, name: str, commits: int) -> tuple[Path, Path]:
    """A work repo with ``commits`` prior commits on main, and one with none."""
    from harness.initrepo import init_work_repo

    deep, empty = init_work_repo(base / f"{name}-deep").clone, init_work_repo(base / f"{name}-empty").clone
    add_prior_commits(deep, commits)
    return deep, empty


def row(what: str, old: Sample, new: Sample) -> dict[str, object]:
    (wall_old, cpu_old), (wall_new, cpu_new) = old, new
    print(
        f"{what:40} {wall_old * 1000:8.1f} {wall_new * 1000:8.1f} {wall_new / wall_old:6.2f}x"
        f" {cpu_old * 1000:8.1f} {cpu_new * 1000:8.1f} {cpu_new / cpu_old:6.2f}x",
        flush=True,
    )
    return {
        "what": what,
        "wall_ms": [round(wall_old * 1000, 1), round(wall_new * 1000, 1)],
        "cpu_ms": [round(cpu_old * 1000, 1), round(cpu_new * 1000, 1)],
        "wall_ratio": round(wall_new / wall_old, 3),
        "cpu_ratio": round(cpu_new / cpu_old, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="main", help="the revision to compare with (default main)")
    parser.add_argument("--rounds", type=int, default=20, help="claims per variant and history size")
    parser.add_argument("--history-rounds", type=int, default=11)
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker()
        return
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as tmp:
        base = Path(tmp)
        hermetic_env(base / "home")
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "harness")], check=True)
        old_root, new_root = export(args.baseline, base / "baseline"), ROOT
        rev = subprocess.run(["git", "rev-parse", "--short", args.baseline], cwd=ROOT, capture_output=True, text=True)
        print(f"baseline {args.baseline} ({rev.stdout.strip()}) against this tree, {os.cpu_count()} cores, medians")
        old, new = Worker(old_root, base), Worker(new_root, base)
        try:
            rows = measure(base, old, new, args)
        finally:
            old.close()
            new.close()
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1) + "\n")


def measure(base: Path, old: Worker, new: Worker, args: argparse.Namespace) -> list[dict[str, object]]:
    from benchmarks.history import build

    repos = {w: claim_repos(base, name, args.commits) for w, name in ((old, "old"), (new, "new"))}
    for w, (deep, empty) in repos.items():
        for path in (deep, empty):
            w.ask("open", str(path))
            w.seconds("claim", str(path), "warm-up")  # first-use costs (git's processes) out of the figures
    fleet = base / "fleet"
    build(fleet, args.commits, 1)
    for w in (old, new):
        w.ask("repo", str(fleet))
        w.seconds("history", str(fleet))
    head = ("base wall", "this wall", "ratio", "base cpu", "this cpu", "ratio")
    print(f"{'median ms':40}", *(f"{h:>{7 if h == 'ratio' else 8}}" for h in head))
    rows = []
    deep_old, deep_new, empty_old, empty_new = rotate(
        [
            lambda i: old.seconds("claim", str(repos[old][0]), f"d-{i}"),
            lambda i: new.seconds("claim", str(repos[new][0]), f"d-{i}"),
            lambda i: old.seconds("claim", str(repos[old][1]), f"e-{i}"),
            lambda i: new.seconds("claim", str(repos[new][1]), f"e-{i}"),
        ],
        args.rounds,
    )
    rows.append(row(f"(c) claim, {args.commits} prior commits", deep_old, deep_new))
    rows.append(row("(c) claim, empty history", empty_old, empty_new))
    lib_old, lib_new = rotate(
        [lambda i: old.seconds("history", str(fleet)), lambda i: new.seconds("history", str(fleet))],
        args.history_rounds,
    )
    rows.append(row(f"history in-process, {args.commits} lock commits", lib_old, lib_new))
    history_cli = ("history", "--json", "--rev", "main", "--repo", str(fleet))
    cli_old, cli_new = rotate([timed_cli(w.root, base, *history_cli) for w in (old, new)], args.history_rounds)
    rows.append(row("harness history --json (CLI)", cli_old, cli_new))
    status = ("status", "--repo", str(repos[new][1]))
    st_old, st_new = rotate([timed_cli(w.root, base, *status) for w in (old, new)], args.rounds)
    rows.append(row("harness status (CLI, cold)", st_old, st_new))
    return rows


if __name__ == "__main__":
    main()
