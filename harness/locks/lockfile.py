"""The lock file format: ``current_tasks/<task>.lock``, a small YAML mapping.

Also recognises what other tools (or people) left in ``current_tasks/``: free-form text
files, other extensions. Those are *foreign* entries: reported, never ignored or deleted.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import yaml

from harness.config import LEASE_MAX_SECONDS, LEASE_MIN_SECONDS
from harness.errors import ConfigError, UsageError
from harness.yamlio import load_mapping

LOCK_DIR = "current_tasks"
LOCK_SUFFIX = ".lock"
TASK_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
TASK_ID_MAX = 100
_FIELDS = ("task", "agent", "role", "host", "nonce", "generation", "claimed_at", "lease_seconds", "note", "files")


def validate_task_id(task: str) -> str:
    if len(task) > TASK_ID_MAX:
        raise UsageError(f"task id is {len(task)} characters; use at most {TASK_ID_MAX} of [a-z0-9._-]")
    if not TASK_ID.match(task):
        raise UsageError(
            f"invalid task id {task!r}: use lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return task


def lock_path(task: str) -> str:
    return f"{LOCK_DIR}/{task}{LOCK_SUFFIX}"


def new_nonce() -> str:
    return secrets.token_hex(16)


def utc_iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, kw_only=True)
class Lock:
    task: str
    agent: str
    role: str
    host: str
    nonce: str
    generation: int
    claimed_at: float  # unix seconds, by the holder's clock
    lease_seconds: int
    note: str = ""
    files: tuple[str, ...] = ()

    def to_yaml(self) -> bytes:
        data: dict[str, Any] = {
            "task": self.task,
            "agent": self.agent,
            "role": self.role,
            "host": self.host,
            "nonce": self.nonce,
            "generation": self.generation,
            "claimed_at": utc_iso(self.claimed_at),
            "lease_seconds": self.lease_seconds,
            "note": self.note,
            "files": list(self.files),
        }
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()


def parse_lock(path: str, content: bytes) -> Lock:
    """Parse a ``.lock`` file; ConfigError naming the file, the field and the fix when malformed."""
    fix = "fix it or remove it in a commit (`git rm` it and push) if its holder is gone"
    data = load_mapping(path, content, "not a valid lock file", fix)
    missing = [key for key in ("task", "agent", "nonce") if not data.get(key)]
    if missing:
        raise ConfigError(f"{path}: not a valid lock file (missing {', '.join(missing)}); {fix}")
    named_for = task_of_entry(path.rsplit("/", 1)[-1])
    if str(data["task"]) != named_for:
        raise ConfigError(f"{path}: task: says {data['task']!r} but the file is named for {named_for!r}; {fix}")
    try:
        return Lock(
            task=str(data["task"]),
            agent=str(data["agent"]),
            role=str(data.get("role") or ""),
            host=str(data.get("host") or ""),
            nonce=str(data["nonce"]),
            generation=_whole(data.get("generation", 1), "generation", 1, None),
            claimed_at=_parse_time(data.get("claimed_at")),
            lease_seconds=_lease(data),
            note=str(data.get("note") or ""),
            files=tuple(str(f) for f in data.get("files") or ()),
        )
    except (TypeError, ValueError, OverflowError) as exc:
        raise ConfigError(f"{path}: not a valid lock file ({exc}); {fix}") from exc


def _lease(data: dict[str, Any]) -> int:
    """The lock's own lease; 0 (absent) means harness.yaml's. Bounded like the config's: a
    negative lease or one of 1e26 seconds would make the lock stale at once or never."""
    if "lease_seconds" not in data:
        return 0
    return _whole(data["lease_seconds"], "lease_seconds", LEASE_MIN_SECONDS, LEASE_MAX_SECONDS)


def _whole(value: object, field: str, low: int, high: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f">= {low}"
        raise ValueError(f"{field}: expected a whole number {span}, got {value!r}")
    return value


def _parse_time(value: object) -> float:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.timestamp()
    if isinstance(value, date):  # YAML reads `2024-05-01` as a date: midnight UTC
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    if isinstance(value, str):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    raise ValueError(f"claimed_at must be an ISO-8601 time, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class LockEntry:
    """One file in ``current_tasks/`` at the upstream tip, whatever wrote it."""

    path: str
    task: str
    lock: Lock | None  # None: foreign (not written by harness) or malformed
    problem: str = ""  # why it is not a harness lock
    first_line: str = ""

    @property
    def foreign(self) -> bool:
        return self.lock is None


def task_of_entry(name: str) -> str:
    """The task a file in current_tasks/ stands for: its name without the last extension."""
    return name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name


def read_entry(name: str, content: bytes) -> LockEntry:
    path = f"{LOCK_DIR}/{name}"
    task = task_of_entry(name)
    text = content.decode("utf-8", errors="replace")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")[:120]
    if not name.endswith(LOCK_SUFFIX):
        return LockEntry(path=path, task=task, lock=None, problem="foreign: not a .lock file", first_line=first)
    try:
        return LockEntry(path=path, task=task, lock=parse_lock(path, content), problem="", first_line=first)
    except ConfigError as exc:
        return LockEntry(path=path, task=task, lock=None, problem=str(exc), first_line=first)
