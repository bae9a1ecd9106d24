"""What a push changes, path by path, and the rules that look at paths only.

Every rule here is decided from ``git diff-tree`` (paths and modes) and a few blobs, before
any test runs: a refusal costs no suite run. The pre-receive hook's shell fast path may
only shortcut on the same facts (``is_lock_only``); everything else is decided here.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatch

from harness.git.repo import GitRepo
from harness.locks.lockfile import LOCK_DIR, TASK_ID
from harness.tasks.specs import SPEC_SUFFIX, TASK_DIR, glob_regex

SYMLINK = "120000"
GITLINK = "160000"
ABSENT = "000000"
LOCK_README = f"{LOCK_DIR}/README.md"
TASK_README = f"{TASK_DIR}/README.md"


@dataclass(frozen=True, kw_only=True)
class PathChange:
    path: str
    old_mode: str  # ABSENT when the push adds the path
    new_mode: str  # ABSENT when the push deletes it
    old_sha: str
    new_sha: str

    @property
    def added(self) -> bool:
        return self.old_mode == ABSENT

    @property
    def deleted(self) -> bool:
        return self.new_mode == ABSENT


def path_changes(repo: GitRepo, old: str | None, new: str) -> list[PathChange]:
    """Every path whose content or mode differs between ``old`` and ``new`` (all of
    ``new`` when there is no old tip)."""
    if old is None:
        raw = repo.run("ls-tree", "-r", "-z", new).stdout.decode(errors="surrogateescape")
        changes = []
        for record in filter(None, raw.split("\0")):
            meta, path = record.split("\t", 1)
            mode, _, sha = meta.split()
            changes.append(PathChange(path=path, old_mode=ABSENT, new_mode=mode, old_sha="0" * 40, new_sha=sha))
        return changes
    raw = repo.run("diff-tree", "-r", "-z", "--no-renames", old, new).stdout.decode(errors="surrogateescape")
    fields = raw.split("\0")
    changes = []
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        if not meta.startswith(":"):
            continue
        old_mode, new_mode, old_sha, new_sha, _status = meta[1:].split()
        changes.append(PathChange(path=path, old_mode=old_mode, new_mode=new_mode, old_sha=old_sha, new_sha=new_sha))
    return changes


def is_lock_file(change: PathChange) -> bool:
    """``current_tasks/<name>.lock`` or its README, as a plain file (or deleted)."""
    inside = change.path.startswith(f"{LOCK_DIR}/") and "/" not in change.path[len(LOCK_DIR) + 1 :]
    named = change.path == LOCK_README or change.path.endswith(".lock")
    return inside and named and change.new_mode in ("100644", ABSENT)


def is_lock_only(changes: Sequence[PathChange]) -> bool:
    return all(is_lock_file(c) for c in changes)


def lock_dir_errors(changes: Sequence[PathChange]) -> list[str]:
    """Anything but lock files and the README added or changed under current_tasks/:
    such a file would ride along with claims untested (invariant 5)."""
    errors = []
    for change in changes:
        if change.path.startswith(f"{LOCK_DIR}/") and not change.deleted and not is_lock_file(change):
            what = "a symlink" if change.new_mode == SYMLINK else "not a lock file"
            errors.append(
                f"ERROR {change.path}: {what}; {LOCK_DIR}/ holds only <task>.lock files and README.md "
                "(move it elsewhere)"
            )
    return errors


def is_task_file(change: PathChange) -> bool:
    """``tasks/<id>.yaml`` (a valid task id) or ``tasks/README.md``, as a plain file (or deleted)."""
    name = change.path.removeprefix(f"{TASK_DIR}/")
    spec = name.endswith(SPEC_SUFFIX) and bool(TASK_ID.match(name.removesuffix(SPEC_SUFFIX)))
    inside = name != change.path and (change.path == TASK_README or spec)
    return inside and change.new_mode in ("100644", ABSENT)


def task_dir_errors(changes: Sequence[PathChange]) -> list[str]:
    """Anything but task specs and the README added or changed under tasks/: one line for
    all of them (spec pushes run no test, so nothing else may ride along there)."""
    foreign = [c.path for c in changes if c.path.startswith(f"{TASK_DIR}/") and not c.deleted and not is_task_file(c)]
    if not foreign:
        return []
    them = "it" if len(foreign) == 1 else "them"
    return [
        f"ERROR {', '.join(foreign)}: only task specs (tasks/<id>.yaml) and tasks/README.md may live in tasks/; "
        f"move {them} elsewhere"
    ]


def symlink_errors(repo: GitRepo, new: str, changes: Sequence[PathChange], old_paths: Sequence[str]) -> list[str]:
    """Symlinks the push adds or changes that point outside the repository, or replace a
    directory: what they point at is in no commit, so no gate could judge it."""
    errors = []
    links = [c for c in changes if c.new_mode == SYMLINK]
    targets = repo.read_blobs(new, [c.path for c in links]) if links else {}
    directories = {posixpath.dirname(p) for p in old_paths}
    for change in links:
        target = (targets.get(change.path) or b"").decode(errors="replace")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(change.path), target))
        if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
            errors.append(f"ERROR {change.path}: symlink to {target} points outside the repository; commit the file")
        elif change.path in directories or any(d.startswith(change.path + "/") for d in directories):
            errors.append(f"ERROR {change.path}: symlink replaces a directory of the old tip; commit the files")
    return errors


def protected_hits(paths: Sequence[str], patterns: Sequence[str]) -> list[str]:
    def hit(path: str, pattern: str) -> bool:
        return fnmatch(path, pattern) or path.startswith(pattern.rstrip("/") + "/")

    return [p for p in paths if any(hit(p, pat) for pat in patterns)]


def glob_match(path: str, pattern: str) -> bool:
    return bool(glob_regex(pattern.removeprefix("./")).match(path))
