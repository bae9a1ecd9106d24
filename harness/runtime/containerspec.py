"""What one agent's container looks like: name, labels, mounts, limits, environment.

Pure data, no Docker calls, so the security-relevant choices are in one readable place:

- the bare upstream is mounted at ``/upstream``; its ``hooks/`` and ``config`` are mounted
  again read-only on top, because an agent that could edit ``config`` could point
  ``core.hooksPath`` somewhere it controls and so bypass the gate;
- the verifier is mounted read-only at ``/verify``;
- ``/workspace`` is a fresh clone the entrypoint makes inside the container, never a host path;
- every capability is dropped except the few the supervising loop (root in the container)
  needs to run the session as the ``agent`` user and manage its files; no-new-privileges;
  memory (no swap), CPU and pids limits; no Docker socket is ever mounted;
- only the environment variables the user names are passed in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UsageError

LABEL_FLEET = "harness.fleet"
LABEL_ROLE = "harness.role"
LABEL_AGENT = "harness.agent"
LABEL_INDEX = "harness.index"
DEFAULT_IMAGE = "harness-agent:latest"
DEFAULT_MEMORY = "2g"
DEFAULT_CPUS = 1.0
DEFAULT_PIDS = 512
PORT_BASE = 20000
PORTS_PER_AGENT = 100
# The loop (root inside the container) starts the session as another user and must read and
# fix up the files that session leaves; nothing else. No NET_RAW, no SYS_*, no MKNOD.
KEPT_CAPABILITIES = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "KILL")
NETWORKS = ("none", "bridge")


@dataclass(frozen=True, kw_only=True)
class ContainerSpec:
    name: str
    agent: str
    role: str
    index: int
    image: str
    command: tuple[str, ...]
    environment: Mapping[str, str]
    labels: Mapping[str, str]
    mounts: tuple[tuple[str, str, bool], ...]  # (host path, container path, read_only)
    memory_bytes: int
    nano_cpus: int
    pids_limit: int
    network: str

    def run_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``docker.containers.run`` (kept SDK-shaped but SDK-free)."""
        return {
            "image": self.image,
            "command": list(self.command),
            "name": self.name,
            "hostname": self.agent,
            "labels": dict(self.labels),
            "environment": dict(self.environment),
            "volumes": {host: {"bind": inner, "mode": "ro" if ro else "rw"} for host, inner, ro in self.mounts},
            "mem_limit": self.memory_bytes,
            "memswap_limit": self.memory_bytes,  # equal: no swap beyond the limit
            "nano_cpus": self.nano_cpus,
            "pids_limit": self.pids_limit,
            "cap_drop": ["ALL"],
            "cap_add": list(KEPT_CAPABILITIES),
            "security_opt": ["no-new-privileges:true"],
            "network_mode": self.network,
            # A loop that crashes comes back; one stopped by `harness down` or killed does not.
            "restart_policy": {"Name": "on-failure", "MaximumRetryCount": 5},
            "detach": True,
        }


def container_name(fleet: str, agent: str) -> str:
    return f"harness-{fleet}-{agent}"


def port_base(position: int) -> int:
    """Each agent's own port range, so per-agent stacks never collide even on a shared network."""
    return PORT_BASE + position * PORTS_PER_AGENT


def passed_environment(names: tuple[str, ...], source: Mapping[str, str] | None = None) -> dict[str, str]:
    """Only the variables the user named; a named variable that is unset is an error, not a silent gap."""
    env = os.environ if source is None else source
    missing = [n for n in names if n not in env]
    if missing:
        raise UsageError(f"--pass-env: {', '.join(missing)} not set in this environment; export it or drop it")
    return {name: env[name] for name in names}


def agent_mounts(upstream: Path, verify: Path | None) -> tuple[tuple[str, str, bool], ...]:
    hooks = upstream / "hooks"
    hooks.mkdir(exist_ok=True)  # an absent hooks dir could otherwise be created by the agent
    mounts = [
        (str(upstream), "/upstream", False),
        (str(hooks), "/upstream/hooks", True),
        (str(upstream / "config"), "/upstream/config", True),
    ]
    if verify is not None:
        mounts.append((str(verify), "/verify", True))
    return tuple(mounts)


def check_network(network: str) -> str:
    if network not in NETWORKS:
        raise UsageError(f"--network: {network!r} is not one of {', '.join(NETWORKS)}")
    return network
