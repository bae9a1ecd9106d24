"""Lock-only tips inherit the baseline of the tip they were claimed on.

A claim or a release without work changes nothing any test runs, so the tip it makes passes
exactly what its parent passed. Lock-only pushes skip the gate (the hook passes them without
Python), so their tips get no baseline file; without inheritance the next code push would find
none for its old tip and run the suite twice (once to measure that tip, once for itself). Here
the gate looks back along first parents for the nearest tip with a trusted baseline and takes
it when the two trees differ in lock files only (``paths.is_lock_only``, the hook's own rule):
one ``git rev-list``, one ``git diff-tree``. A landed push costs one suite run. (Spec-only
pushes store their inherited baseline when they land: judge.py.)
"""

from __future__ import annotations

from collections.abc import Callable

from harness.gate.baseline import Baseline
from harness.gate.paths import is_lock_only, path_changes
from harness.git.repo import GitRepo

WALK_LIMIT = 500  # ancestors looked at; past that, measuring is cheaper than reading history


def inherited(repo: GitRepo, tip: str, load: Callable[[str], Baseline | None]) -> Baseline | None:
    """The baseline of the nearest first-parent ancestor that has one, re-keyed to ``tip``, when
    only lock files differ between the two; None otherwise (then the tip is measured)."""
    ancestors = repo.run("rev-list", "--first-parent", f"--max-count={WALK_LIMIT}", tip, check=False).stdout
    for commit in ancestors.decode().split()[1:]:
        found = load(commit)
        if found is not None:
            if not is_lock_only(path_changes(repo, commit, tip)):
                return None
            return Baseline(tip, found.passed, dict(found.flaky))
    return None
