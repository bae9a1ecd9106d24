"""What every fleet runtime offers, and the fleet description they share.

``harness up/down/ps/logs`` parse their options into a ``FleetSpec`` and call a ``Runtime``;
the local-process runtime and the Docker runtime implement the same protocol so the CLI
and ``harness top`` never care which one runs the fleet.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from harness.errors import UsageError

ROLE_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True, kw_only=True)
class FleetSpec:
    name: str  # fleet name: labels containers / names the fleet directory
    upstream: Path  # the bare upstream every agent clones
    roles: Mapping[str, int]  # role -> number of agents
    backend: str = "builtin"  # agent backend (claude, codex, aider, gemini, command, builtin)
    agent_args: tuple[str, ...] = ()  # extra options passed to `harness loop`
    pass_env: tuple[str, ...] = ()  # names of environment variables handed to agents
    memory: str | None = None  # e.g. "4g" (docker)
    cpus: float | None = None
    network: str = "none"
    fleet_dir: Path | None = None  # where the local runtime keeps clones and logs


@dataclass(frozen=True, kw_only=True)
class AgentInfo:
    agent: str
    role: str
    state: str  # running | exited | dead | starting
    task: str | None = None
    iteration: int | None = None
    uptime_seconds: float | None = None
    handle: str = ""  # pid or container id
    extra: Mapping[str, str] = field(default_factory=dict)


class Runtime(Protocol):
    def up(self, spec: FleetSpec) -> list[AgentInfo]: ...

    def down(self, fleet: str, timeout: float = 30.0) -> list[AgentInfo]: ...

    def ps(self, fleet: str) -> list[AgentInfo]: ...

    def logs(self, fleet: str, agent: str, follow: bool = False) -> Iterator[str]: ...


def parse_roles(text: str) -> dict[str, int]:
    """``core-dev=4,dedup=1`` → {"core-dev": 4, "dedup": 1}; UsageError naming the bad part."""
    roles: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, count = part.partition("=")
        name = name.strip()
        if not name or not set(name) <= ROLE_NAME_CHARS:
            raise UsageError(f"--roles: bad role name {name!r} in {part!r}; use lowercase letters, digits, '-'")
        if not sep:
            count = "1"
        if not count.strip().isdigit() or int(count) < 1:
            raise UsageError(f"--roles: {part!r} needs a whole number of agents >= 1, like {name}=2")
        roles[name] = roles.get(name, 0) + int(count)
    if not roles:
        raise UsageError("--roles: name at least one role, like core-dev=3,docs=1")
    return roles


def agent_ids(roles: Mapping[str, int]) -> list[tuple[str, str]]:
    """Stable agent ids per role: core-dev-01, core-dev-02, …, dedup-01."""
    return [(f"{role}-{i:02d}", role) for role, count in roles.items() for i in range(1, count + 1)]
