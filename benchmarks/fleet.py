"""Fleet benchmark: N builtin agents drain T independent tasks, each session a simulated D s.

Prints wall time against the ideal T·D/N (parallel efficiency; target ≥ 0.87 at D = 2 s,
8 agents, 64 tasks) and the loop's own overhead per iteration (iteration time minus
session time, and session time minus D: the cost of starting the agent process).

    .venv/bin/python -m benchmarks.fleet [--agents 8] [--tasks 64] [--delay 2] [--keep DIR]
                                         [--mode direct|queue ...]

The upstream is made by ``harness init`` (so the gate's pre-receive hook is installed and
runs on every push) with no ``tests:`` configured: the figure is the loop and lock
protocol's overhead, not a test suite's. Two modes, side by side in one run: ``direct``, each
release pushes the work to main (the hook judges it: a Python start in the push slot);
``queue``, the merge queue is on (issue 14): a release submits to its queue ref with the next
claim riding along, and a runner lands the batches (nothing to test, so no suite runs).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness.config import CONFIG_NAME
from harness.git.repo import GitRepo, identity_env
from harness.initrepo import init_work_repo
from harness.loop.events import IterationOutcome, read_events
from harness.runtime.base import FleetSpec
from harness.runtime.local import LocalRuntime, is_running
from harness.tasks.specs import TaskSpec, spec_path


def build(base: Path, tasks: int, delay: float, hook: bool, queue: bool) -> Path:
    result = init_work_repo(base / "work")
    if not hook:  # measure the loop and lock protocol alone
        (result.upstream / "hooks" / "pre-receive").unlink(missing_ok=True)
    if queue:
        config = result.clone / CONFIG_NAME
        config.write_text(config.read_text() + "queue:\n  enabled: true\n")
    for i in range(tasks):
        body = f"@sleep {delay}\n@write src/t{i:03d}.txt\ntask {i}\n@end\n"
        spec = TaskSpec(id=f"t{i:03d}", title=f"task {i}", body=body, files=(f"src/t{i:03d}.txt",))
        path = result.clone / spec_path(spec.id)
        path.write_bytes(spec.to_yaml())
    repo = GitRepo(result.clone)
    repo.run("add", "-A")
    repo.run("commit", "-q", "-m", f"{tasks} benchmark tasks", env=identity_env("bench"))
    env = {**os.environ, "HARNESS_ROLE": "lead"}  # harness.yaml is protected
    subprocess.run(
        ["git", "push", "-q", "origin", "HEAD:main"], cwd=result.clone, env=env, check=True, capture_output=True
    )
    return result.upstream


def busy_cpu_seconds() -> float:
    """CPU time the whole machine spent busy (all cores, /proc/stat): loops, git, agents."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def run(agents: int, tasks: int, delay: float, base: Path, hook: bool, queue: bool) -> dict[str, float]:
    upstream = build(base, tasks, delay, hook, queue)
    runner = None
    if queue:
        runner = subprocess.Popen(
            [sys.executable, "-m", "harness", "queue", "run", "--upstream", str(upstream)],
            stdout=(base / "queue.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        return _measure(agents, tasks, delay, base, upstream)
    finally:
        if runner is not None:
            runner.send_signal(signal.SIGTERM)
            runner.wait(timeout=120)


def _measure(agents: int, tasks: int, delay: float, base: Path, upstream: Path) -> dict[str, float]:
    runtime = LocalRuntime(root=base / "state")
    args = ("--exit-when-idle", "--idle-backoff", "0.05")
    spec = FleetSpec(
        name="bench",
        upstream=upstream,
        roles={"core-dev": agents},
        backend="builtin",
        agent_args=args,
        fleet_dir=base / "fleet",
    )
    busy_before = busy_cpu_seconds()
    start, start_clock = time.monotonic(), time.time()
    loops = {int(info.handle) for info in runtime.up(spec)}
    up_seconds = time.monotonic() - start
    # The loops are the launcher's orphans, not our children: look at /proc every 10 ms
    # (polling `ps` would cost the machine CPU the fleet is being measured on).
    while any(is_running(pid) for pid in loops):
        time.sleep(0.01)
    wall = time.monotonic() - start
    cpu = busy_cpu_seconds() - busy_before
    homes = [a for a in sorted((base / "fleet").iterdir()) if a.is_dir()]
    events = [e for home in homes for e in read_events(home / "events.jsonl").events]
    done = [e for e in events if e.outcome in (IterationOutcome.DONE, IterationOutcome.QUEUED)]
    overhead = [e.duration_seconds - e.session_seconds for e in events]
    startup = [e.session_seconds - delay for e in done]
    steps = {
        step: statistics.median(e.steps.get(step, 0.0) for e in done) if done else 0.0
        for step in ("sync", "claim", "integrate")
    }
    first_started = [min(e.started_at for e in events if e.agent == a) for a in {e.agent for e in events}]
    return {
        **{f"step_{k}": v for k, v in steps.items()},
        "up": up_seconds,
        # When the last loop began its first iteration: clones, spawns and imports.
        "all_started": max(first_started) - start_clock if first_started else 0.0,
        "tail": start_clock + wall - max((e.ended_at for e in events), default=0.0),
        "wall": wall,
        "cpu": cpu,
        "ideal": tasks * delay / agents,
        "done": len(done),
        "iterations": len(events),
        "claims_lost": sum(e.claims_lost for e in events),
        "overhead_median": statistics.median(overhead) if overhead else 0.0,
        "overhead_mean": statistics.fmean(overhead) if overhead else 0.0,
        "session_start_median": statistics.median(startup) if startup else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--tasks", type=int, default=64)
    parser.add_argument("--delay", type=float, default=2.0)
    parser.add_argument("--keep", type=Path, default=None, help="keep the upstream, clones and logs here")
    parser.add_argument("--no-hook", action="store_true", help="remove the gate's pre-receive hook first")
    parser.add_argument("--mode", choices=MODES, nargs="+", default=list(MODES), help="direct pushes, the merge queue")
    ns = parser.parse_args()
    base = ns.keep or Path(tempfile.mkdtemp(prefix="harness-bench-fleet-"))
    base.mkdir(parents=True, exist_ok=True)
    results = {
        mode: run(ns.agents, ns.tasks, ns.delay, base / mode, hook=not ns.no_hook, queue=mode == "queue")
        for mode in ns.mode
    }
    hook = "without hooks" if ns.no_hook else "with the gate's pre-receive hook"
    print(f"fleet: {ns.agents} builtin agents, {ns.tasks} independent tasks, sessions of {ns.delay:g} s, {hook}")
    print(f"  {'':32}" + "".join(f"{mode:>10}" for mode in results) + f"{'ideal':>10}")
    for label, key, ideal, form in ROWS:
        cells = "".join(f"{_value(r, key):10{form}}" for r in results.values())
        print(f"  {label:32}{cells}{'' if ideal is None else format(ideal(ns), '10' + form)}")
    cores = os.cpu_count() or 1
    for mode, r in results.items():
        floor = max(r["ideal"], r["cpu"] / cores)
        print(f"  {mode}: CPU bound on efficiency {r['ideal'] / floor:.2f} ({r['cpu']:.1f} CPU-s on {cores} cores)")
    if len(results) == 2:
        ratio = _value(results["queue"], "efficiency") / _value(results["direct"], "efficiency")
        print(f"  queue / direct efficiency: {ratio:.2f}   target (direct) >= 0.87")
    print(f"  kept in {base}" if ns.keep else "")


MODES = ("direct", "queue")
ROWS: list[tuple[str, str, Callable[[argparse.Namespace], float] | None, str]] = [
    ("wall time (s)", "wall", lambda ns: ns.tasks * ns.delay / ns.agents, ".1f"),
    ("parallel efficiency", "efficiency", lambda ns: 1.0, ".2f"),
    ("CPU busy, all cores (s)", "cpu", None, ".1f"),
    ("fleet start (s)", "all_started", None, ".2f"),
    ("drain tail (s)", "tail", None, ".2f"),
    ("tasks done", "done", lambda ns: ns.tasks, ".0f"),
    ("iterations", "iterations", lambda ns: ns.tasks, ".0f"),
    ("claims lost in races", "claims_lost", None, ".0f"),
    ("loop overhead / iteration (s)", "overhead_median", None, ".3f"),
    ("  sync (s, median)", "step_sync", None, ".3f"),
    ("  claim (s, median)", "step_claim", None, ".3f"),
    ("  integrate (s, median)", "step_integrate", None, ".3f"),
    ("session start-up (s, median)", "session_start_median", None, ".3f"),
]


def _value(r: dict[str, float], key: str) -> float:
    return r["ideal"] / r["wall"] if key == "efficiency" else r[key]


if __name__ == "__main__":
    main()
