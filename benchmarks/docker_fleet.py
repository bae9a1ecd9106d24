"""Docker fleet costs, side by side: start-up per agent as the fleet grows, `down` time, and how
soon a killed container's lock is handed back compared with waiting for its lease.

Needs a running engine and the agent image (`harness image build`). Run:
    .venv/bin/python benchmarks/docker_fleet.py [--image harness-agent:latest] [--agents 1,4,8]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from harness.config import LockSettings
from harness.initrepo import init_work_repo
from harness.runtime.base import FleetSpec
from harness.runtime.docker import DockerOptions, DockerRuntime

HOLD = "harness claim held-task --repo /workspace && touch /tmp/claimed && sleep infinity"


def lock_present(upstream: Path) -> bool:
    proc = subprocess.run(
        ["git", "cat-file", "-e", "main:current_tasks/held-task.lock"], cwd=upstream, capture_output=True, check=False
    )
    return proc.returncode == 0


def up_down(image: str, agents: int, base: Path) -> tuple[float, float]:
    upstream = init_work_repo(base / f"w{agents}").upstream
    runtime = DockerRuntime(DockerOptions(image=image, watch=False))
    spec = FleetSpec(
        name=f"bench{agents}",
        upstream=upstream,
        roles={"core-dev": agents},
        agent_args=("sleep", "infinity"),
        memory="256m",
    )
    start = time.perf_counter()
    runtime.up(spec)
    started = time.perf_counter() - start
    start = time.perf_counter()
    runtime.down(spec.name, timeout=5)
    return started, time.perf_counter() - start


def reap_latency(image: str, base: Path) -> float:
    upstream = init_work_repo(base / "reap").upstream
    runtime = DockerRuntime(DockerOptions(image=image, watch=True, watch_interval=1.0))
    spec = FleetSpec(
        name="benchreap", upstream=upstream, roles={"core-dev": 1}, agent_args=("bash", "-c", HOLD), memory="256m"
    )
    runtime.up(spec)
    try:
        while not lock_present(upstream):
            time.sleep(0.1)
        subprocess.run(["docker", "kill", "harness-benchreap-core-dev-01"], capture_output=True, check=True)
        start = time.perf_counter()
        while lock_present(upstream):
            time.sleep(0.05)
        return time.perf_counter() - start
    finally:
        runtime.down(spec.name, timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="harness-agent:latest")
    parser.add_argument("--agents", default="1,4,8")
    args = parser.parse_args()
    sizes = [int(n) for n in args.agents.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        rows = [(n, *up_down(args.image, n, base)) for n in sizes]
        first = rows[0][1] / rows[0][0]
        print(f"{'agents':>6} {'up s':>7} {'s/agent':>8} {'vs 1st':>7} {'down s':>7}")
        for n, up, down in rows:
            print(f"{n:>6} {up:>7.2f} {up / n:>8.2f} {up / n / first:>6.2f}x {down:>7.2f}")
        latency = reap_latency(args.image, base)
    settings = LockSettings()
    lease = settings.lease_seconds + settings.grace_seconds + settings.clock_skew_seconds
    print(f"killed container's lock handed back after {latency:.2f} s (watcher polls every 1 s)")
    print(f"waiting for the lease instead: {lease} s  ->  {lease / latency:,.0f}x sooner")


if __name__ == "__main__":
    main()
