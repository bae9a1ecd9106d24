"""Stale git lock files: found when git reports one, removed only when nobody can own it.

git guards the index, HEAD and every ref with a ``<file>.lock`` it creates exclusively and
renames over the file when done. A git process killed in between leaves the ``.lock`` behind,
and from then on every command that needs that file fails with "Unable to create
'<path>.lock': File exists" until a person deletes it. In a clone that stops one agent; in
the upstream (``refs/heads/main.lock``, ``HEAD.lock`` of a killed ``receive-pack``) it stops
every claim, release and landing of the fleet.

harness removes such a file only when all of these hold:

- git reported it (``reported_lock``), or the loop's sweep of its own clone between
  sessions found it (``sweep``);
- it lies inside the repository git ran in or inside the local upstream (the caller checks);
- it is at least ``STALE_SECONDS`` old by its mtime: git holds a lock for milliseconds, so
  a lock that old was left by a process that died, while a younger one may be in use;
- no live git process works in that repository: none has its working directory in it or
  names it in its arguments (read from /proc; read-only commands such as ``cat-file`` and
  ``upload-pack`` never take these locks and do not count).

Then it says so, one ``WARNING`` line naming the file. A younger lock, or one a live git
process may own, is waited for (polled) up to ``WAIT_SECONDS`` and never removed.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from harness.errors import warn

STALE_SECONDS = 10.0  # a lock file this old (by mtime) with no git process about is a leftover
WAIT_SECONDS = 30.0  # how long a command waits for a lock someone may still hold
_POLL_SECONDS = 0.05
_REPORTED = re.compile(r"Unable to create '([^'\n]+\.lock)': File exists")
# git subcommands that only read: they never hold the index, HEAD or a ref lock.
_READ_ONLY = frozenset({"cat-file", "upload-pack", "pack-objects", "rev-list", "for-each-ref", "ls-remote"})


def reported_lock(stderr: str) -> Path | None:
    """The lock file git says is in its way ("Unable to create '…lock': File exists"), or None."""
    found = _REPORTED.search(stderr)
    return Path(os.path.normpath(found.group(1))) if found else None


def git_dir_of(lock: Path) -> Path | None:
    """The git directory ``lock`` belongs to (the nearest parent with HEAD and objects/)."""
    for parent in lock.parents:
        if (parent / "HEAD").is_file() and (parent / "objects").is_dir():
            return parent
    return None


@dataclass(frozen=True)
class Holder:
    pid: int
    command: str


def git_processes(git_dir: Path) -> list[Holder]:
    """Live git processes working in the repository at ``git_dir`` (or its worktree)."""
    places = [str(git_dir.resolve())]
    if git_dir.name == ".git":
        places.append(str(git_dir.parent.resolve()))
    found = []
    for entry in _proc_entries():
        holder = _git_holder(entry, places)
        if holder is not None:
            found.append(holder)
    return found


def pushes_running(git_dir: Path) -> list[Holder]:
    """``git push`` processes still running in the clone at ``git_dir``: a claimer killed
    mid-push leaves its (detached, spawn.py) push running, and its claim may still land."""
    return [h for h in git_processes(git_dir) if " push " in f" {h.command} "]


def _proc_entries() -> list[Path]:
    try:
        return [entry for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    except OSError:
        return []


def _git_holder(entry: Path, places: list[str]) -> Holder | None:
    try:
        if not (entry / "comm").read_text().startswith("git"):
            return None
        if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return None  # a zombie holds nothing
        argv = [a.decode(errors="replace") for a in (entry / "cmdline").read_bytes().split(b"\0") if a]
    except (OSError, IndexError):
        return None  # it exited while we looked
    if any(a.removeprefix("git-") in _READ_ONLY for a in argv[:3]):
        return None
    try:
        cwd = os.readlink(entry / "cwd")
    except OSError:
        cwd = ""  # another user's process: its arguments still tell
    inside = any(_within(cwd, place) for place in places) or any(place in arg for arg in argv for place in places)
    return Holder(int(entry.name), " ".join(argv)[:120]) if inside else None


def _within(path: str, place: str) -> bool:
    return bool(path) and (path == place or path.startswith(place.rstrip("/") + "/"))


def settle(lock: Path, deadline: float) -> str:
    """Wait until ``lock`` is gone, removing it once it is stale; "" then. If it is still
    there at ``deadline`` (monotonic), why: its age and the live git process that may hold it."""
    git_dir = git_dir_of(lock)
    if git_dir is None:
        return "it is not inside a git repository harness can inspect"
    while True:
        try:
            age = time.time() - lock.stat().st_mtime
        except FileNotFoundError:
            return ""
        except OSError as exc:
            return f"cannot inspect it ({exc.strerror})"
        holders = git_processes(git_dir)
        if age >= STALE_SECONDS and not holders:
            return _remove(lock, age, git_dir)
        if time.monotonic() >= deadline:
            who = f"git process {holders[0].pid} ({holders[0].command}) works there" if holders else "it is fresh"
            return f"{lock} is {age:.0f} s old and {who}; harness waited and left it alone"
        time.sleep(_POLL_SECONDS)


def _remove(lock: Path, age: float, git_dir: Path) -> str:
    try:
        lock.unlink()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        return f"{lock} is stale but cannot be removed ({exc.strerror}); delete it by hand"
    warn(f"removed stale git lock {lock} ({age:.0f} s old, no git process in {git_dir}): a git process died holding it")
    return ""


def sweep(git_dir: Path) -> list[Path]:
    """Remove the stale lock files of the repository at ``git_dir`` (index, HEAD and the other
    top-level files, refs); the ones removed. For a clone between two sessions: a session
    killed inside ``git commit`` must not fail every session after it."""
    candidates = [*git_dir.glob("*.lock"), *git_dir.glob("refs/**/*.lock")]
    if not candidates or git_processes(git_dir):
        return []
    removed = []
    for lock in candidates:
        try:
            age = time.time() - lock.stat().st_mtime
        except OSError:
            continue
        if age >= STALE_SECONDS and lock.is_file() and not _remove(lock, age, git_dir):
            removed.append(lock)
    return removed
