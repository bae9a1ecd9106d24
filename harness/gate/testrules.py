"""Changed tests: which existing tests a push changes, and whether it may.

A test of the old tip is changed when the push edits its definition or anything it may
depend on in its file (testdiff.py), deletes or renames it, or when its outcome in the new
form differs from its old form's. The gate accepts a change when the old form still passes
on the pushed code (a refactor or a strengthening) and the new form does not fail.
Otherwise only ``gate.test_roles`` may push it. This holds for failing tests too: a hacked
assertion of a failing test never enters the baseline, and the later honest fix is never
refused because of it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

from harness.gate.testdiff import EVERY, FileDiff, diff_test_file
from harness.gate.verifier import Verifier
from harness.git.repo import GitRepo
from harness.testing.model import Outcome, RunResult, TestResult

Rerun = Callable[[Sequence[str]], RunResult]


def who_may(roles: Sequence[str]) -> str:
    """The second half of a refusal: who may, and how to push as them."""
    if not roles:
        return "no role may change it"
    return f"only roles {', '.join(roles)} may change it (HARNESS_ROLE={roles[0]} git push)"


def file_diffs(verifier: Verifier, repo: GitRepo, old: str, new: str, files: Sequence[str]) -> dict[str, FileDiff]:
    if not files:
        return {}
    before, after = repo.read_blobs(old, files), repo.read_blobs(new, files)
    diffs = {}
    for path in files:
        python = verifier.runner == "pytest" and path.endswith(".py")
        old_blob = before[path] or b""
        diffs[path] = diff_test_file(old_blob, after[path]) if python else EVERY
    return diffs


def settle(results: Mapping[str, TestResult], ids: Collection[str], rerun: Rerun, times: int) -> dict[str, TestResult]:
    """``results`` with the bad outcomes among ``ids`` re-run up to ``times`` times; a test
    that passes on a re-run counts as passing (flaky), as the ratchet counts it."""
    settled = dict(results)
    todo = sorted(t for t in ids if t in settled and settled[t].outcome.bad)
    for _ in range(times):
        if not todo:
            break
        again = rerun(todo).results
        for tid in todo:
            if tid in again and again[tid].outcome is Outcome.PASSED:
                settled[tid] = again[tid]
        todo = [t for t in todo if settled[t].outcome.bad]
    return settled


def changed_test_errors(
    verifier: Verifier,
    diffs: Mapping[str, FileDiff],
    old_form: RunResult,
    new_form: RunResult,
    reruns: tuple[Rerun, Rerun, int],
    roles: Sequence[str],
) -> list[str]:
    """ERROR lines for the tests of the old tip (as run in their old form) that the push
    changes and the pusher's role may not: old form failing, or new form failing."""
    rerun_old, rerun_new, times = reruns
    before, after = dict(old_form.results), dict(new_form.results)
    edited, suspects = [], []
    for tid, result in sorted(before.items()):
        diff = diffs.get(verifier.file_of(tid))
        if diff is None:
            continue
        other = after.get(tid)
        if diff.covers(tid) or other is None:
            edited.append(tid)
        elif other.outcome is not result.outcome:
            suspects.append(tid)  # same text, other outcome: confirm it is not a flaky run
    before = settle(before, [*edited, *suspects], rerun_old, times)
    after = settle(after, [*edited, *suspects], rerun_new, times)
    changed = edited + [t for t in suspects if before[t].outcome is not after[t].outcome]
    errors = []
    for tid in sorted(changed):
        now = after.get(tid)
        if before[tid].outcome is not Outcome.PASSED:
            errors.append(f"ERROR {tid}: changed test fails in its old form; {who_may(roles)}")
        elif now is not None and now.outcome.bad:
            detail = f" ({now.reason})" if now.reason else ""
            errors.append(f"ERROR {tid}: changed test passes in its old form but fails in its new form{detail}")
    return errors


def tests_in(verifier: Verifier, ids: Collection[str], files: Collection[str]) -> list[str]:
    wanted = set(files)
    return sorted(t for t in ids if verifier.file_of(t) in wanted)
