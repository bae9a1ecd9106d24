"""A rebase, merge, cherry-pick or revert left in progress in a clone by a killed command.

A release killed during its rebase leaves ``.git/rebase-merge``; from then on every rebase
fails ("a rebase is already in progress") and the next release reported a conflict where
there was none. Before a claim, a release and the loop's sync, harness aborts such a
leftover: ``git <op> --abort`` puts the branch back where it was before the operation
began (a rebase's ``--autostash`` is applied back too), so no commit is lost, and says so
in one WARNING line.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import warn
from harness.git.repo import GitRepo

# (what git leaves in the git directory, the command that owns it), in the order to look.
_MARKERS = (
    ("rebase-merge", "rebase"),
    ("rebase-apply", "rebase"),
    ("MERGE_HEAD", "merge"),
    ("CHERRY_PICK_HEAD", "cherry-pick"),
    ("REVERT_HEAD", "revert"),
)


def interrupted_operation(repo: GitRepo) -> str | None:
    """The operation left in progress in the clone (``rebase``, ``merge``...), or None."""
    git_dir = _git_dir(repo)
    return next((op for marker, op in _MARKERS if (git_dir / marker).exists()), None)


def abort_interrupted(repo: GitRepo) -> str | None:
    """Abort the operation left in progress, if any; which one it was (after a WARNING line)."""
    op = interrupted_operation(repo)
    if op is None:
        return None
    proc = repo.run(op, "--abort", check=False)
    if proc.returncode != 0 and op == "rebase":
        # A rebase killed while it set itself up has no usable state to go back to:
        # forget it and leave HEAD and the branch as they are.
        repo.run("rebase", "--quit", check=False)
    still = interrupted_operation(repo)
    if still is not None:
        warn(f"a {still} is in progress in {repo.path} and `git {still} --abort` failed; finish or abort it by hand")
        return still
    warn(f"aborted a {op} left in progress in {repo.path} (a command was killed during it); your commits are as before")
    return op


def _git_dir(repo: GitRepo) -> Path:
    dot_git = repo.path / ".git"
    # The usual clone: no git process needed to find it (claims are timed to the millisecond).
    return dot_git if dot_git.is_dir() else repo.git_dir
