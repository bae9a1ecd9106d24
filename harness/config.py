"""harness.yaml → frozen dataclasses. All validation of the config happens here.

Every error names the file and the field and says what would be accepted, in one line.
A missing harness.yaml means "all defaults", so harness works on a plain repository.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.yamlio import load_mapping

CONFIG_NAME = "harness.yaml"
DEFAULT_ROLES = ("core-dev", "dedup", "perf", "critic", "docs")
# A lease shorter than this is reclaimed before a session has pushed anything; one longer
# than a week keeps a task from the fleet long after its holder is gone (docs/locks.md).
LEASE_MIN_SECONDS = 10
LEASE_MAX_SECONDS = 7 * 86400


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


@dataclass(frozen=True, kw_only=True)
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

    def positive_int(self, key: str, default: int, unit: str = "", minimum: int = 0, maximum: int | None = None) -> int:
        """A whole number in ``minimum..maximum``; ``unit`` says what it counts in the error
        ("seconds", "workers", ...), so the message fits the field."""
        value = self.data.get(key, default)
        valid = not isinstance(value, bool) and isinstance(value, int)
        if not valid or value < minimum or (maximum is not None and value > maximum):
            what = f"a whole number of {unit}" if unit else "a whole number"
            bound = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
            raise self.fail(key, f"expected {what} {bound}, got {value!r}")
        return int(value)

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


TOP_LEVEL_KEYS = {"version", "branch", "locks", "roles", "agent", "tests", "gate", "loop", "fleet", "queue", "tasks"}


def load_config(root: Path) -> Config:
    """Read ``root/harness.yaml``; defaults when absent; ConfigError when malformed."""
    path = root / CONFIG_NAME
    if not path.exists():
        return parse_config(None, str(path))
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    return parse_config(content, str(path))


def parse_config(content: bytes | None, source: str) -> Config:
    """harness.yaml's ``content`` (None: there is none, so all defaults) → Config.

    ``source`` names it in every error: a path, or where in git it was read from
    (``<commit>:harness.yaml``). The one parser: the clone's file and a blob read at a
    commit (the gate's old tip, a fleet's main) go through the same checks.
    """
    path = Path(source)
    if content is None:
        return Config(path=path, roles=_default_roles())
    data = load_mapping(source, content, "not valid YAML", "fix the syntax")
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


def _read_locks(section: _Reader) -> LockSettings:
    section.reject_unknown({"lease_seconds", "grace_seconds", "clock_skew_seconds", "heartbeat_seconds"})
    defaults = LockSettings()
    day = 86400
    return LockSettings(
        lease_seconds=section.positive_int(
            "lease_seconds", defaults.lease_seconds, "seconds", LEASE_MIN_SECONDS, LEASE_MAX_SECONDS
        ),
        grace_seconds=section.positive_int("grace_seconds", defaults.grace_seconds, "seconds", 0, day),
        clock_skew_seconds=section.positive_int("clock_skew_seconds", defaults.clock_skew_seconds, "seconds", 0, day),
        heartbeat_seconds=section.positive_int("heartbeat_seconds", defaults.heartbeat_seconds, "seconds", 1, day),
    )


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


def known_roles(config: Config, prompts: Path | None = None) -> set[str]:
    """The roles an agent may play: harness.yaml's ``roles:``, the default ones, and any with
    a prompt file in ``prompts`` (``<role>.md``)."""
    found = set(config.roles) | set(DEFAULT_ROLES)
    if prompts is not None and prompts.is_dir():
        found |= {path.stem for path in prompts.glob("*.md")}
    return found


def _default_roles() -> dict[str, RoleSettings]:
    return {name: RoleSettings(name=name, prompt=f"prompts/{name}.md") for name in DEFAULT_ROLES}


# -- tests: and gate: (issue 4) ------------------------------------------------------

TEST_RUNNERS = ("pytest", "files", "junit")


@dataclass(frozen=True, kw_only=True)
class SuiteSettings:
    """``tests:`` — how ``harness test`` and the gate run the project's suite."""

    runner: str = "pytest"
    args: tuple[str, ...] = ()  # pytest: extra arguments (paths, -k, ...)
    glob: str = ""  # files: test files, relative to the repo root ("tests/**/*.c")
    run: str = ""  # files: shell command per test, ``{test}`` is the file ("./run_one.sh {test}")
    command: str = ""  # junit: shell command writing JUnit XML to ``{junit}`` (or to ``report``)
    report: str = ""  # junit: where ``command`` writes its XML when it cannot take ``{junit}``
    workers: int = 2  # files: parallel test processes
    timeout_seconds: int = 300  # files: per test
    total_timeout_seconds: int = 3600  # pytest/junit: the whole run
    fast_fraction: float = 0.05
    max_errors: int = 20  # ERROR lines printed before "... and N more"
    progress_seconds: int = 30


@dataclass(frozen=True)
class GateSettings:
    """``gate:`` — what the pre-receive/pre-push gate protects and who may change it."""

    protected: tuple[str, ...] = ("harness.yaml",)
    protected_roles: tuple[str, ...] = ("lead",)
    reruns: int = 2  # a failing baseline test is re-run this often before it is a regression
    allow_removed_tests: bool = False
    # Roles that may change an existing test whose old form fails, or test infrastructure
    # (conftest.py, the runner's configuration, support files): see docs/gate.md.
    test_roles: tuple[str, ...] = ("lead",)
    # Extra verifier paths (globs or directories/); None: the runner's default
    # (pytest: tests/ and test/; files: the test glob and its runner script; junit: its script).
    verifier: tuple[str, ...] | None = None


def read_suite_settings(config: Config) -> SuiteSettings:
    section = _Reader(config.path, config.raw).mapping("tests")
    section.reject_unknown(set(SuiteSettings.__dataclass_fields__))
    d = SuiteSettings()
    runner = section.string("runner", d.runner)
    if runner not in TEST_RUNNERS:
        raise section.fail("runner", f"unknown runner {runner!r}; expected one of: {', '.join(TEST_RUNNERS)}")
    settings = SuiteSettings(
        runner=runner,
        args=_string_list(section, "args", d.args),
        glob=str(section.data.get("glob", d.glob)),
        run=str(section.data.get("run", d.run)),
        command=str(section.data.get("command", d.command)),
        report=str(section.data.get("report", d.report)),
        workers=section.positive_int("workers", d.workers, "workers (parallel test processes)", 1),
        timeout_seconds=section.positive_int("timeout_seconds", d.timeout_seconds, "seconds", 1),
        total_timeout_seconds=section.positive_int("total_timeout_seconds", d.total_timeout_seconds, "seconds"),
        fast_fraction=_fraction(section, "fast_fraction", d.fast_fraction),
        max_errors=section.positive_int("max_errors", d.max_errors, "ERROR lines"),
        progress_seconds=section.positive_int("progress_seconds", d.progress_seconds, "seconds"),
    )
    if runner == "files" and (not settings.glob or "{test}" not in settings.run):
        raise section.fail("run", "the files runner needs `glob:` and a `run:` command containing {test}")
    if runner == "junit" and not settings.command:
        raise section.fail("command", "the junit runner needs a `command:` that writes JUnit XML")
    if runner == "junit" and "{junit}" not in settings.command and not settings.report:
        raise section.fail("report", "say where the JUnit XML is written, or put {junit} in `command:`")
    return settings


def read_gate_settings(config: Config) -> GateSettings:
    section = _Reader(config.path, config.raw).mapping("gate")
    section.reject_unknown(set(GateSettings.__dataclass_fields__))
    d = GateSettings()
    allow = section.data.get("allow_removed_tests", d.allow_removed_tests)
    if not isinstance(allow, bool):
        raise section.fail("allow_removed_tests", f"expected true or false, got {allow!r}")
    return GateSettings(
        protected=_string_list(section, "protected", d.protected),
        protected_roles=_string_list(section, "protected_roles", d.protected_roles),
        reruns=section.positive_int("reruns", d.reruns, "reruns"),
        allow_removed_tests=allow,
        test_roles=_string_list(section, "test_roles", d.test_roles),
        verifier=_string_list(section, "verifier", ()) if "verifier" in section.data else None,
    )


def _string_list(section: _Reader, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = section.data.get(key, list(default))
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise section.fail(key, f"expected a list of strings, got {value!r}")
    return tuple(value)


def _fraction(section: _Reader, key: str, default: float) -> float:
    value = section.data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.01 <= value <= 0.10:
        raise section.fail(key, f"expected a fraction from 0.01 to 0.10, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class QueueSettings:
    """``queue:`` and ``tasks.max_attempts`` — the merge queue (docs/queue.md)."""

    enabled: bool = False
    batch_size: int = 16  # submissions tested together at most
    parallel: int = 0  # test runs at once (speculation, culprit search); 0: what the cores allow
    poll_seconds: float = 0.2  # how often an idle runner looks for submissions
    max_attempts: int = 3  # refusals before a task is set aside as blocked (tasks.max_attempts)
    # The loop runs the agent's --fast sample before submitting. Off by default: the prompts
    # already have the agent run it in its session, and the batch split is the safety net.
    fast_sample: bool = False

    def runs_at_once(self) -> int:
        return self.parallel or max(1, min(4, (os.cpu_count() or 2)))


def read_queue_settings(config: Config) -> QueueSettings:
    section = _Reader(config.path, config.raw).mapping("queue")
    section.reject_unknown({"enabled", "batch_size", "parallel", "poll_seconds", "fast_sample"})
    tasks = _Reader(config.path, config.raw).mapping("tasks")
    tasks.reject_unknown({"max_attempts"})
    d = QueueSettings()
    enabled, fast_sample = section.data.get("enabled", d.enabled), section.data.get("fast_sample", d.fast_sample)
    for key, flag in (("enabled", enabled), ("fast_sample", fast_sample)):
        if not isinstance(flag, bool):
            raise section.fail(key, f"expected true or false, got {flag!r}")
    poll = section.data.get("poll_seconds", d.poll_seconds)
    if isinstance(poll, bool) or not isinstance(poll, int | float) or not 0.01 <= poll <= 60:
        raise section.fail("poll_seconds", f"expected seconds from 0.01 to 60, got {poll!r}")
    settings = QueueSettings(
        enabled=enabled,
        batch_size=section.positive_int("batch_size", d.batch_size),
        parallel=section.positive_int("parallel", d.parallel),
        poll_seconds=float(poll),
        max_attempts=tasks.positive_int("max_attempts", d.max_attempts),
        fast_sample=fast_sample,
    )
    if settings.batch_size == 0:
        raise section.fail("batch_size", "expected at least 1 submission per batch")
    if settings.max_attempts == 0:
        raise tasks.fail("max_attempts", "expected at least 1 attempt before a task is blocked")
    return settings
