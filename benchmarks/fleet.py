"""Fleet benchmark: N builtin agents drain T independent tasks, each session a simulated D s.

Prints wall time against the ideal T·D/N (parallel efficiency; target ≥ 0.87 at D = 2 s,
8 agents, 64 tasks) and the loop's own overhead per iteration (iteration time minus
session time, and session time minus D: the cost of starting the agent process).

    .venv/bin/python -m benchmarks.fleet [--agents 8] [--tasks 64] [--delay 2] [--keep DIR]

The upstream is made by ``harness init`` (so the gate's pre-receive hook is installed and
runs on every push) with no ``tests:`` configured: the figure is the loop and lock
protocol's overhead, not a test suite's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from harness.git.repo import GitRepo, identity_env
from harness.initrepo import init_work_repo
from harness.loop.events import IterationOutcome, read_events
from harness.runtime.base import FleetSpec
from harness.runtime.local import LocalRuntime, is_running
from harness.tasks.specs import TaskSpec, spec_path


def build(base: Path, tasks: int, delay: float, hook: bool) -> Path:
    result = init_work_repo(base / "work")
    if not hook:  # measure the loop and lock protocol alone
        (result.upstream / "hooks" / "pre-receive").unlink(missing_ok=True)
    for i in range(tasks):
        body = f"@sleep {delay}\n@write src/t{i:03d}.txt\ntask {i}\n@end\n"
        spec = TaskSpec(id=f"t{i:03d}", title=f"task {i}", body=body, files=(f"src/t{i:03d}.txt",))
        path = result.clone / spec_path(spec.id)
        path.write_bytes(spec.to_yaml())
    repo = GitRepo(result.clone)
    repo.run("add", "-A")
    repo.run("commit", "-q", "-m", f"{tasks} benchmark tasks", env=identity_env("bench"))
    repo.run("push", "-q", "origin", "HEAD:refs/heads/main")
    return result.upstream


def busy_cpu_seconds() -> float:
    """CPU time the whole machine spent busy (all cores, /proc/stat): loops, git, agents."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def run(agents: int, tasks: int, delay: float, base: Path, hook: bool) -> dict[str, float]:
    upstream = build(base, tasks, delay, hook)
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
    done = [e for e in events if e.outcome is IterationOutcome.DONE]
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
    ns = parser.parse_args()
    base = ns.keep or Path(tempfile.mkdtemp(prefix="harness-bench-fleet-"))
    base.mkdir(parents=True, exist_ok=True)
    r = run(ns.agents, ns.tasks, ns.delay, base, hook=not ns.no_hook)
    efficiency = r["ideal"] / r["wall"]
    hook = "without hooks" if ns.no_hook else "with the gate's pre-receive hook"
    print(f"fleet: {ns.agents} builtin agents, {ns.tasks} independent tasks, sessions of {ns.delay:g} s, {hook}")
    print(f"  {'':32} {'measured':>10} {'ideal':>10} {'ratio':>8}")
    print(f"  {'wall time (s)':32} {r['wall']:10.1f} {r['ideal']:10.1f} {r['wall'] / r['ideal']:8.2f}")
    print(f"  {'parallel efficiency':32} {efficiency:10.2f} {1.0:10.2f}   target >= 0.87")
    cores = os.cpu_count() or 1
    floor = max(r["ideal"], r["cpu"] / cores)
    print(
        f"  {'CPU busy, all cores (s)':32} {r['cpu']:10.1f}   {r['cpu'] / max(r['iterations'], 1):.2f} s per iteration"
    )
    print(
        f"  {'best wall this CPU allows (s)':32} {floor:10.1f}   "
        f"(CPU / {cores} cores; efficiency bound {r['ideal'] / floor:.2f})"
    )
    print(f"  {'fleet start (s)':32} {r['all_started']:10.2f}   until every loop began; `up` itself {r['up']:.2f}")
    print(f"  {'drain tail (s)':32} {r['tail']:10.2f}   from the last iteration's end to the last loop's exit")
    print(f"  {'tasks done':32} {r['done']:10.0f} {ns.tasks:10d}")
    print(f"  {'iterations':32} {r['iterations']:10.0f} {ns.tasks:10d}")
    print(f"  {'claims lost in races':32} {r['claims_lost']:10.0f}")
    print(
        f"  {'loop overhead / iteration (s)':32} {r['overhead_median']:10.3f}   median (mean {r['overhead_mean']:.3f})"
    )
    for step in ("sync", "claim", "integrate"):
        print(f"  {'  ' + step + ' (s)':32} {r['step_' + step]:10.3f}   median")
    print(
        f"  {'session start-up (s)':32} {r['session_start_median']:10.3f}   median, beyond the {ns.delay:g} s of work"
    )
    print(f"  kept in {base}" if ns.keep else "")


if __name__ == "__main__":
    main()
