"""harness.yaml → frozen dataclasses. All validation of the config happens here.

Every error names the file and the field and says what would be accepted, in one line.
A missing harness.yaml means "all defaults", so harness works on a plain repository.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError

CONFIG_NAME = "harness.yaml"
DEFAULT_ROLES = ("core-dev", "dedup", "perf", "critic", "docs")


@dataclass(frozen=True)
class LockSettings:
    lease_seconds: int = 1800
    grace_seconds: int = 300
    # Reclaim compares the holder's timestamps with our clock; allow this much disagreement.
    clock_skew_seconds: int = 120
    heartbeat_seconds: int = 60


@dataclass(frozen=True)
class RoleSettings:
    name: str
    prompt: str
    description: str = ""


@dataclass(frozen=True)
class Config:
    path: Path
    branch: str = "main"
    locks: LockSettings = field(default_factory=LockSettings)
    roles: Mapping[str, RoleSettings] = field(default_factory=dict)
    # Sections owned by later layers (agent backends, tests, gate), kept raw until they
    # are validated by their own readers in this module.
    raw: Mapping[str, Any] = field(default_factory=dict)


class _Reader:
    """Typed access to one mapping of the YAML file, with errors that name the field."""

    def __init__(self, path: Path, data: Mapping[str, Any], prefix: str = "") -> None:
        self.path = path
        self.data = data
        self.prefix = prefix

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {self.prefix}{key}: {message}")

    def reject_unknown(self, allowed: set[str]) -> None:
        for key in self.data:
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.fail(str(key), f"unknown key; expected one of: {known}")

    def positive_int(self, key: str, default: int) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(key, f"expected a whole number of seconds >= 0, got {value!r}")
        return value

    def string(self, key: str, default: str) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"expected a non-empty string, got {value!r}")
        return value

    def mapping(self, key: str) -> _Reader:
        value = self.data.get(key, {})
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise self.fail(key, f"expected a mapping, got {type(value).__name__}")
        return _Reader(self.path, value, f"{self.prefix}{key}.")


TOP_LEVEL_KEYS = {"version", "branch", "locks", "roles", "agent", "tests", "gate", "loop", "fleet"}


def load_config(root: Path) -> Config:
    """Read ``root/harness.yaml``; defaults when absent; ConfigError when malformed."""
    path = root / CONFIG_NAME
    if not path.exists():
        return Config(path=path, roles=_default_roles())
    data = _load_yaml_mapping(path)
    top = _Reader(path, data)
    top.reject_unknown(TOP_LEVEL_KEYS)
    version = data.get("version", 1)
    if version != 1:
        raise top.fail("version", f"unsupported version {version!r}; this harness reads version 1")
    return Config(
        path=path,
        branch=top.string("branch", "main"),
        locks=_read_locks(top.mapping("locks")),
        roles=_read_roles(top.mapping("roles")) or _default_roles(),
        raw=data,
    )


def _load_yaml_mapping(path: Path) -> Mapping[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} is not valid YAML ({_yaml_problem(exc)}); fix the syntax") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level, got {type(data).__name__}")
    return data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    return str(getattr(exc, "problem", None) or exc).splitlines()[0]


def _read_locks(section: _Reader) -> LockSettings:
    section.reject_unknown({"lease_seconds", "grace_seconds", "clock_skew_seconds", "heartbeat_seconds"})
    defaults = LockSettings()
    settings = LockSettings(
        lease_seconds=section.positive_int("lease_seconds", defaults.lease_seconds),
        grace_seconds=section.positive_int("grace_seconds", defaults.grace_seconds),
        clock_skew_seconds=section.positive_int("clock_skew_seconds", defaults.clock_skew_seconds),
        heartbeat_seconds=section.positive_int("heartbeat_seconds", defaults.heartbeat_seconds),
    )
    if settings.lease_seconds == 0:
        raise section.fail("lease_seconds", "must be > 0 (a lease of 0 would make every lock stale)")
    return settings


def _read_roles(section: _Reader) -> dict[str, RoleSettings]:
    roles: dict[str, RoleSettings] = {}
    for name in section.data:
        role = section.mapping(str(name))
        role.reject_unknown({"prompt", "description"})
        roles[str(name)] = RoleSettings(
            name=str(name),
            prompt=role.string("prompt", f"prompts/{name}.md"),
            description=str(role.data.get("description", "")),
        )
    return roles


def _default_roles() -> dict[str, RoleSettings]:
    return {name: RoleSettings(name=name, prompt=f"prompts/{name}.md") for name in DEFAULT_ROLES}
