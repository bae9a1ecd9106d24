"""How many agents fit a machine: memory sizes, host totals, and the refusal `harness up` gives.

The numbers come from the Docker engine when there is one (it is the engine's host that must
hold the containers, which may not be this machine), else from /proc/meminfo and os.cpu_count.
A fraction of memory is kept back for the engine, the host and the page cache git leans on.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError, UsageError

# Memory the fleet may not take: the kernel, dockerd, the host's own work.
HOST_RESERVE_FRACTION = 0.10
HOST_RESERVE_MIN_BYTES = 512 * 1024**2
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)


class CapacityError(HarnessError):
    """The fleet asked for more than the host can give."""


@dataclass(frozen=True)
class Host:
    memory_bytes: int
    cpus: int
    source: str  # "docker engine" or "this machine"

    @property
    def usable_memory(self) -> int:
        return max(0, self.memory_bytes - max(HOST_RESERVE_MIN_BYTES, int(self.memory_bytes * HOST_RESERVE_FRACTION)))


@dataclass(frozen=True, kw_only=True)
class Plan:
    host: Host
    memory_per_agent: int
    cpus_per_agent: float
    by_memory: int
    by_cpu: int

    @property
    def fits(self) -> int:
        return min(self.by_memory, self.by_cpu)


def parse_size(text: str, what: str = "--memory") -> int:
    """``4g``, ``512m``, ``1.5GiB`` → bytes; UsageError naming the option otherwise."""
    match = _SIZE.match(text)
    if not match:
        raise UsageError(f"{what}: cannot read {text!r} as a size; use a number with k, m or g, like 4g or 512m")
    value = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if value < 6 * 1024**2:
        raise UsageError(f"{what}: {text!r} is below Docker's minimum of 6m per container")
    return value


def human_size(n: int) -> str:
    for unit, size in (("g", 1024**3), ("m", 1024**2), ("k", 1024)):
        if n >= size:
            return f"{n / size:.1f}{unit}".replace(".0", "")
    return f"{n}b"


def local_host() -> Host:
    """This machine's memory and CPUs (the fallback when no engine answers)."""
    total = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                total = int(line.split()[1]) * 1024
                break
    except OSError:
        pass
    if not total:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return Host(total, os.cpu_count() or 1, "this machine")


def plan(host: Host, memory_per_agent: int, cpus_per_agent: float) -> Plan:
    if cpus_per_agent <= 0:
        raise UsageError(f"--cpus: must be > 0, got {cpus_per_agent}")
    by_memory = host.usable_memory // memory_per_agent
    # CPU limits are quotas, not reservations: allow 2x oversubscription, since agents mostly
    # wait on the model; memory limits are hard, so they are not oversubscribed.
    by_cpu = int(host.cpus * 2 / cpus_per_agent)
    return Plan(
        host=host, memory_per_agent=memory_per_agent, cpus_per_agent=cpus_per_agent, by_memory=by_memory, by_cpu=by_cpu
    )


def check_fleet_memory(host: Host, agents: int, memory_per_agent: int) -> None:
    """Refuse, with the numbers, a fleet whose memory limits add up to more than the host has."""
    wanted = agents * memory_per_agent
    if wanted > host.usable_memory:
        fits = host.usable_memory // memory_per_agent
        raise CapacityError(
            f"{agents} agents x {human_size(memory_per_agent)} = {human_size(wanted)} of memory, but "
            f"{host.source} has {human_size(host.memory_bytes)} ({human_size(host.usable_memory)} usable); "
            f"{fits} agent(s) of that size fit: lower --memory or the role counts"
        )


def plan_lines(result: Plan) -> list[str]:
    host = result.host
    return [
        f"host ({host.source}): {human_size(host.memory_bytes)} memory "
        f"({human_size(host.usable_memory)} usable), {host.cpus} CPU(s)",
        f"per agent: {human_size(result.memory_per_agent)} memory, {result.cpus_per_agent:g} CPU",
        f"fit by memory: {result.by_memory}; by CPU (2x oversubscribed): {result.by_cpu}",
        f"agents that fit: {result.fits}",
    ]
