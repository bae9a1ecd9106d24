"""Task specs (``tasks/<id>.yaml``) and the scheduler.

A task is claimable when it is not done, every ``depends_on`` is done, and its ``files``
do not overlap destructively with a held lock's: two tasks clash when they touch the same
existing file, or create the same new path. Two tasks that only add different new files
never clash. ``next`` prefers tasks that unblock the most others, then priority (higher
first), then the oldest, then the id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import Any

import yaml

from harness.errors import ConfigError, UsageError
from harness.locks.lockfile import TASK_ID, Lock, validate_task_id
from harness.tasks.deps import dependency_problems
from harness.yamlio import load_mapping

TASK_DIR = "tasks"
SPEC_SUFFIX = ".yaml"
_SPEC_KEYS = {
    *("id", "title", "body", "depends_on", "files", "accept", "priority", "role", "status", "created_at"),
    *("done_by", "attempts", "refusals"),
}
# blocked: refused by the merge queue ``tasks.max_attempts`` times; a person reopens it
# (status: open) once the reasons in ``refusals`` are dealt with.
STATUSES = ("open", "done", "blocked")
MAX_REFUSAL_LINES = 20  # ERROR lines kept with a task from its last refusal


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    id: str
    title: str
    body: str = ""
    depends_on: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    # Tests that decide the task: it is done only when they pass under the gate's verifier.
    accept: tuple[str, ...] = ()
    priority: int = 0
    role: str | None = None
    status: str = "open"
    created_at: str = ""
    done_by: str = ""
    attempts: int = 0  # refusals by the merge queue so far
    refusals: tuple[str, ...] = ()  # the last refusal's ERROR lines, shown in the next prompt

    @property
    def done(self) -> bool:
        return self.status == "done"

    @property
    def blocked(self) -> bool:
        return self.status == "blocked"

    def to_yaml(self) -> bytes:
        data: dict[str, Any] = {"title": self.title}
        if self.body:
            data["body"] = self.body
        data["depends_on"] = list(self.depends_on)
        data["files"] = list(self.files)
        if self.accept:
            data["accept"] = list(self.accept)
        data["priority"] = self.priority
        if self.role:
            data["role"] = self.role
        data["status"] = self.status
        if self.created_at:
            data["created_at"] = self.created_at
        if self.done_by:
            data["done_by"] = self.done_by
        if self.attempts:
            data["attempts"] = self.attempts
        if self.refusals:
            data["refusals"] = list(self.refusals)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()

    def marked_done(self, agent: str) -> TaskSpec:
        return replace(self, status="done", done_by=agent)

    def refused(self, lines: Sequence[str], max_attempts: int) -> TaskSpec:
        """After a merge-queue refusal: one more attempt counted, blocked at ``max_attempts``."""
        attempts = self.attempts + 1
        status = "blocked" if attempts >= max_attempts else self.status
        return replace(self, attempts=attempts, refusals=tuple(lines[:MAX_REFUSAL_LINES]), status=status)


def spec_path(task: str) -> str:
    return f"{TASK_DIR}/{task}{SPEC_SUFFIX}"


def parse_spec(path: str, content: bytes) -> TaskSpec:
    """Parse one spec file; ConfigError naming the file, the field and the fix."""
    task = path.rsplit("/", 1)[-1].removesuffix(SPEC_SUFFIX)
    if not TASK_ID.match(task):
        raise ConfigError(f"{path}: file name is not a valid task id; rename it to [a-z0-9][a-z0-9._-]*.yaml")
    data = load_mapping(path, content, "not valid YAML", "fix the syntax; a spec needs at least 'title'")
    return _spec_from_mapping(path, task, data)


def _spec_from_mapping(path: str, task: str, data: Mapping[str, Any]) -> TaskSpec:
    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(f"{path}: {key}: {message}")

    for key in data:
        if key not in _SPEC_KEYS:
            raise fail(str(key), f"unknown key; expected one of: {', '.join(sorted(_SPEC_KEYS))}")
    if data.get("id", task) != task:
        raise fail("id", f"is {data['id']!r} but the file is named for {task!r}; make them agree")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise fail("title", "missing; give the task a one-line title")
    priority = data.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise fail("priority", f"expected an integer (higher runs first), got {priority!r}")
    status = data.get("status", "open")
    if status not in STATUSES:
        raise fail("status", f"expected one of {', '.join(STATUSES)}, got {status!r}")
    role = data.get("role")
    if role is not None and not isinstance(role, str):
        raise fail("role", f"expected a role name, got {role!r}")
    attempts = data.get("attempts", 0)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
        raise fail("attempts", f"expected a whole number >= 0 (merge-queue refusals so far), got {attempts!r}")
    return TaskSpec(
        id=task,
        title=title.strip(),
        body=str(data.get("body") or ""),
        depends_on=tuple(_id_list(fail, "depends_on", data.get("depends_on"))),
        files=tuple(_string_list(fail, "files", data.get("files"))),
        accept=tuple(_test_ids(fail, data.get("accept"))),
        priority=priority,
        role=role,
        status=status,
        created_at=str(data.get("created_at") or ""),
        done_by=str(data.get("done_by") or ""),
        attempts=attempts,
        refusals=tuple(_string_list(fail, "refusals", data.get("refusals"))),
    )


def _string_list(fail: Any, key: str, value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise fail(key, f"expected a list of strings, got {value!r}")
    return list(value)


def _test_ids(fail: Any, value: object) -> list[str]:
    """``accept:``: test ids as ``harness test`` prints them (``tests/test_x.py::test_y``,
    a file, or a ``files`` runner's path)."""
    ids = _string_list(fail, "accept", value)
    for test in ids:
        if test != test.strip() or "\n" in test:
            raise fail("accept", f"{test!r} is not a test id; write it as `harness test` prints it")
    return ids


def _id_list(fail: Any, key: str, value: object) -> list[str]:
    ids = _string_list(fail, key, value)
    for task in ids:
        try:
            validate_task_id(task)
        except UsageError as exc:
            raise fail(key, str(exc)) from exc
    return ids


# -- file overlap ---------------------------------------------------------------


@lru_cache(maxsize=512)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """``**/`` is zero or more directories, ``*`` and ``?`` stay within one; ``dir/`` is
    everything below ``dir`` (the way the ``files`` runner's Path.glob reads a pattern)."""
    if pattern.endswith("/"):
        pattern += "**"
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _is_glob(pattern: str) -> bool:
    return pattern.endswith("/") or any(ch in pattern for ch in "*?")


def touched_paths(patterns: Iterable[str], existing: Sequence[str]) -> frozenset[str]:
    """Existing files the globs match, plus every literal path (existing or to be created).

    Only globs look at ``existing``: a literal path touches itself either way, so a board
    whose patterns are all literal never needs the tip's file listing.
    """
    touched: set[str] = set()
    for pattern in patterns:
        if _is_glob(pattern):
            regex = glob_regex(pattern)
            touched |= {path for path in existing if regex.match(path)}
        else:
            touched.add(pattern)
    return frozenset(touched)


def files_clash(a: Iterable[str], b: Iterable[str], existing: Sequence[str]) -> frozenset[str]:
    """The paths two file sets both touch (empty: they can proceed in parallel)."""
    return touched_paths(a, existing) & touched_paths(b, existing)


# -- scheduling -----------------------------------------------------------------


@dataclass(frozen=True)
class Board:
    """What the scheduler sees at one upstream tip."""

    specs: Mapping[str, TaskSpec]
    locks: Mapping[str, Lock]  # held harness locks by task
    foreign: frozenset[str]  # tasks locked by files harness did not write
    existing_paths: Sequence[str] = ()

    @cached_property
    def dependency_problems(self) -> dict[str, str]:
        """Open tasks that can never become claimable (a cycle, a missing dependency), with why."""
        open_deps = {task: spec.depends_on for task, spec in self.specs.items() if not spec.done}
        return dependency_problems(open_deps, self.specs.keys())


def unclaimable_reason(board: Board, task: str, files: Sequence[str] = ()) -> str | None:
    """Why ``task`` cannot be claimed now (exit 4), or None. Held locks are checked by the caller."""
    spec = board.specs.get(task)
    if spec is not None and spec.done:
        return f"task {task} is done"
    if spec is not None and spec.blocked:
        why = f": {spec.refusals[0]}" if spec.refusals else ""
        return f"task {task} is blocked after {spec.attempts} refused attempt(s){why}; set status: open to retry it"
    if spec is not None and task in board.dependency_problems:
        return f"task {task} can never be claimed: {board.dependency_problems[task]}"
    if spec is not None:
        unmet = [dep for dep in spec.depends_on if not _is_done(board, dep)]
        if unmet:
            return f"task {task} waits for unfinished dependencies: {', '.join(unmet)}"
    wanted = tuple(files) or (spec.files if spec else ())
    if wanted:
        for other, lock in sorted(board.locks.items()):
            if other == task or not lock.files:
                continue
            clash = files_clash(wanted, lock.files, board.existing_paths)
            if clash:
                paths = ", ".join(sorted(clash)[:3])
                return f"task {task} touches {paths}, which {other} (held by {lock.agent}) also touches"
    return None


def _is_done(board: Board, task: str) -> bool:
    spec = board.specs.get(task)
    return spec is not None and spec.done


def unblock_counts(specs: Mapping[str, TaskSpec]) -> dict[str, int]:
    """For each open task, how many open tasks depend on it, directly or transitively."""
    dependents: dict[str, set[str]] = {task: set() for task in specs}
    for spec in specs.values():
        if not spec.done:
            for dep in spec.depends_on:
                dependents.setdefault(dep, set()).add(spec.id)
    counts: dict[str, int] = {}
    for task in specs:
        seen: set[str] = set()
        stack = list(dependents.get(task, ()))
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(dependents.get(current, ()))
        counts[task] = len(seen)
    return counts


def claimable(board: Board, role: str | None = None) -> list[TaskSpec]:
    """Open specs that could be claimed now by ``role``, best first."""
    counts = unblock_counts(board.specs)
    candidates = [
        spec
        for spec in board.specs.values()
        if spec.status == "open"
        and spec.id not in board.locks
        and spec.id not in board.foreign
        and (role is None or spec.role in (None, role))
        and unclaimable_reason(board, spec.id) is None
    ]
    return sorted(candidates, key=lambda s: (-counts.get(s.id, 0), -s.priority, s.created_at or "~", s.id))
