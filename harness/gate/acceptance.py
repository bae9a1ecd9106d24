"""Acceptance: a task whose spec names ``accept:`` tests is done only when they pass.

The gate reads the task specs of the old tip, never the pushed ones: a push that marks a
task done (``release --done`` writes ``status: done``) lands only when each acceptance test
of the old tip's spec passes in its old form on the pushed code. Changing or dropping an
existing spec's ``accept:`` list is a change of the verifier: only ``gate.test_roles`` may.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from harness.errors import ConfigError
from harness.gate.paths import ABSENT, TASK_README, PathChange, is_lock_file
from harness.git.repo import GitRepo
from harness.tasks.specs import SPEC_SUFFIX, TASK_DIR, TaskSpec, parse_spec
from harness.testing.model import Outcome, RunResult


@dataclass(frozen=True)
class SpecChange:
    path: str
    old: TaskSpec | None
    new: TaskSpec | None
    new_unreadable: bool = False


def spec_changes(repo: GitRepo, old: str, new: str, changes: Sequence[PathChange]) -> list[SpecChange]:
    paths = [
        c.path
        for c in changes
        if c.path.startswith(f"{TASK_DIR}/") and c.path.endswith(SPEC_SUFFIX) and c.path.count("/") == 1
    ]
    if not paths:
        return []
    before, after = repo.read_blobs(old, paths), repo.read_blobs(new, paths)
    found = []
    for path in paths:
        old_spec, _ = _parse(path, before[path])
        new_spec, unreadable = _parse(path, after[path])
        found.append(SpecChange(path, old_spec, new_spec, unreadable))
    return found


def _parse(path: str, content: bytes | None) -> tuple[TaskSpec | None, bool]:
    if content is None:
        return None, False
    try:
        return parse_spec(path, content), False
    except ConfigError:
        return None, True


def spec_only(changes: Sequence[PathChange], specs: Sequence[SpecChange]) -> bool:
    """Only lock files, readable task specs and tasks/README.md change: nothing a test can see."""
    readable = {s.path for s in specs if not s.new_unreadable} | {TASK_README}
    return all(is_lock_file(c) or (c.path in readable and c.new_mode in ("100644", ABSENT)) for c in changes)


def marked_done(specs: Sequence[SpecChange]) -> list[TaskSpec]:
    """Old-tip specs of tasks this push marks done, that name acceptance tests."""
    return [
        s.old
        for s in specs
        if s.old is not None and s.new is not None and not s.old.done and s.new.done and s.old.accept
    ]


def accept_edit_errors(specs: Sequence[SpecChange], role: str, roles: Sequence[str]) -> list[str]:
    if role in roles:
        return []
    errors = []
    for spec in specs:
        if spec.old is None:
            continue  # a new spec may name any tests
        after = spec.new.accept if spec.new is not None else None
        if spec.old.accept and (after != spec.old.accept or spec.new_unreadable):
            errors.append(
                f"ERROR {spec.path}: changes or drops the task's accept: tests; only roles {_names(roles)} may "
                f"(HARNESS_ROLE={roles[0] if roles else 'lead'} git push)"
            )
    return errors


def matching(entry: str, ids: Collection[str]) -> list[str]:
    """Test ids an ``accept:`` entry names: the id itself, or every test in a named file."""
    return sorted(t for t in ids if t == entry or t.startswith((f"{entry}::", f"{entry}[")))


def acceptance_errors(done: Sequence[TaskSpec], old_form: RunResult, new_tests: Collection[str]) -> list[str]:
    """ERROR lines for acceptance tests of tasks marked done that do not pass in their old form."""
    errors = []
    for spec in done:
        for entry in spec.accept:
            ids = matching(entry, old_form.results)
            if not ids:
                why = (
                    "is new in this push; acceptance tests must be on main before the task is done"
                    if matching(entry, new_tests)
                    else "was not found in the suite at main"
                )
                errors.append(f"ERROR {entry}: acceptance test of task {spec.id} {why}; the task is not done")
                continue
            for tid in ids:
                result = old_form.results[tid]
                if result.outcome is not Outcome.PASSED:
                    detail = f": {result.reason}" if result.reason else ""
                    errors.append(
                        f"ERROR {tid}: acceptance test of task {spec.id} {result.outcome.value}{detail}; "
                        "the task is not done"
                    )
    return errors


def _names(roles: Sequence[str]) -> str:
    return ", ".join(roles) or "no role"
