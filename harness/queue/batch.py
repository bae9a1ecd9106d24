"""Applying submissions onto a tip of ``main``, in order, without a worktree.

Each submission becomes a merge commit whose first parent is the batch so far and whose
second is the submission: the agent's own commits stay in history untouched, ``main``'s
first-parent line reads one landing per commit (the lock history reads exactly that), and a
merge is one ``git merge-tree`` plus one ``commit-tree``, whatever the submission's length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.errors import HarnessError
from harness.git.repo import GitRepo, identity_env
from harness.locks.lockfile import LOCK_DIR, lock_path
from harness.locks.snapshot import read_snapshot
from harness.queue.submission import Submission

QUEUE_AGENT = "harness-queue"


@dataclass(frozen=True)
class Batch:
    """Submissions applied onto ``base``; ``head`` is what gets tested and landed."""

    base: str
    head: str
    members: tuple[Submission, ...]
    # Submissions that could not join, with the ERROR line saying why (conflict, fencing...).
    rejected: dict[str, tuple[Submission, str]] = field(default_factory=dict)


def unfit_reason(repo: GitRepo, base: str, sub: Submission) -> str | None:
    """Why ``sub`` cannot land on ``base`` whatever the tests say, or None.

    Fencing (invariant 3): the lock at ``base`` must still carry the submission's nonce.
    A submission may delete its own lock and nothing else under ``current_tasks/``.
    """
    entry = read_snapshot(repo, base).entries.get(sub.task)
    if entry is None or entry.lock is None or entry.lock.nonce != sub.nonce or not sub.nonce:
        return f"its lock on main is gone or was reclaimed (nonce {sub.nonce or 'missing'}); fenced"
    fork = repo.out("merge-base", base, sub.commit)
    if not fork:
        return "it shares no history with main"
    raw = repo.run("diff-tree", "-r", "-z", "--no-renames", "--name-only", fork, sub.commit, "--", LOCK_DIR)
    touched = [p for p in raw.stdout.decode(errors="replace").split("\0") if p]
    foreign = [p for p in touched if p != lock_path(sub.task)]
    if foreign:
        return f"it changes {', '.join(foreign[:3])}; a submission may only delete its own lock"
    return None


def merge_onto(repo: GitRepo, head: str, sub: Submission, size: int) -> tuple[str | None, list[str]]:
    """(new head, []) or (None, conflicting paths)."""
    proc = repo.run("merge-tree", "--write-tree", "--name-only", "--no-messages", head, sub.commit, check=False)
    lines = proc.stdout.decode(errors="replace").splitlines()
    if proc.returncode == 1:
        return None, [line for line in lines[1:] if line]
    if proc.returncode != 0 or not lines:
        raise HarnessError(f"git merge-tree failed for {sub.task}: {proc.stderr.decode(errors='replace').strip()}")
    message = landing_message(repo, sub, size)
    return repo.commit_tree(lines[0], [head, sub.commit], message, identity_env(QUEUE_AGENT)), []


def landing_message(repo: GitRepo, sub: Submission, size: int) -> str:
    """The release commit's message (its trailers name the agent and the nonce, which the lock
    history reads), with the queue's own trailer added."""
    original = repo.out("log", "-1", "--format=%B", sub.commit).rstrip()
    return f"{original}\nHarness-Landed-By: {QUEUE_AGENT} (batch of {size})\n"


def build(repo: GitRepo, base: str, subs: Sequence[Submission], check_locks_at: str | None = None) -> Batch:
    """Apply ``subs`` onto ``base`` in order; those that conflict or are unfit are left out.

    ``check_locks_at``: the tip of main whose locks decide fencing (``base`` itself unless the
    batch is built speculatively on top of another batch that has not landed yet).
    """
    head = base
    members: list[Submission] = []
    rejected: dict[str, tuple[Submission, str]] = {}
    for sub in subs:
        reason = unfit_reason(repo, check_locks_at or base, sub)
        if reason is None:
            merged, conflicts = merge_onto(repo, head, sub, len(subs))
            if merged is None:
                reason = f"conflicts with main in {', '.join(conflicts[:5]) or '(unknown files)'}"
            else:
                head = merged
                members.append(sub)
                continue
        rejected[sub.task] = (sub, reason)
    return Batch(base, head, tuple(members), rejected)


def rebuild(repo: GitRepo, base: str, batch: Batch) -> Batch:
    """The same members applied onto a newer ``base`` (main moved by lock-only commits)."""
    return build(repo, base, batch.members)
