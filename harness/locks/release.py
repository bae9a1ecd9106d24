"""Releasing a lock: the lock's deletion rides with the session's work in one push.

Outcomes: ``done`` (a spec'd task is marked done in the same commit), ``released`` (the
lock is handed back, the work pushed) and ``abandoned`` (the lock is handed back; local
commits are not pushed to main but parked on ``refs/harness/parked/<agent>/<task>-<time>-<sha>``).
Fencing (invariant 3): if the tip no longer carries our nonce, nothing is deleted and any
local commits are kept on ``refs/harness/orphans/<agent>/<task>-<time>-<sha>``.
``hand_back`` is the one way every part of harness gives a task back (abandoned, fencing
tolerated): the loop after a failed session, a local fleet's ``down``, a dead container's reaper.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from harness import retry
from harness.errors import ConfigError, Fenced, HarnessError, LockHeld, NotClaimable, RebaseConflict
from harness.git.leftovers import abort_interrupted
from harness.git.publish import REMOTE_MAIN, Change, fetch_main, note_pushed_tip, publish, push_with_network_retry
from harness.git.pushslot import push_slot
from harness.git.repo import PushStatus, identity_env
from harness.git.upstream import direct_tip
from harness.locks import records
from harness.locks.claim import (
    ClaimRequest,
    ClaimResult,
    confirm_claim,
    drop_if_pending,
    holder_check,
    plan_claim,
    reconcile,
)
from harness.locks.lockfile import lock_path, validate_task_id
from harness.locks.snapshot import Snapshot, read_snapshot
from harness.tasks.specs import spec_path
from harness.workspace import Workspace


class ReleaseOutcome(Enum):
    DONE = "done"
    RELEASED = "released"
    ABANDONED = "abandoned"


@dataclass(frozen=True, kw_only=True)
class ReleaseResult:
    task: str
    outcome: ReleaseOutcome
    commit: str
    work_commits: int  # commits of the session's work that landed with the release
    parked_ref: str | None = None
    next_claim: ClaimResult | None = None  # the claim that rode in the same push


# Picks the next task to claim at a tip (the loop's scheduler), or None.
NextClaim = Callable[[Snapshot], ClaimRequest | None]


def release(
    ws: Workspace,
    task: str,
    outcome: ReleaseOutcome = ReleaseOutcome.RELEASED,
    note: str = "",
    claim_next: NextClaim | None = None,
    move_branch: bool = True,
) -> ReleaseResult:
    """Release ``task``; Fenced (5) when the tip no longer carries our lock, LockHeld (3)
    when another agent holds it, NotClaimable (4) when nobody does.

    ``claim_next`` (the loop's): when the session's work lands, it picks the next task at
    the state the release creates, and that claim rides in the same push — one trip
    through the upstream (and its push slot and gate) per iteration instead of two.
    ``move_branch=False`` leaves the local branch on the (pushed) work instead of moving it
    to the release commit: for the loop, whose next step checks the tip out anyway.
    """
    validate_task_id(task)  # a bad id is a usage error (2), not "fenced" (5)
    abort_interrupted(ws.repo)  # a release killed during its rebase must not fail every release after it
    work = _local_work_count(ws)
    parked_ref = None
    next_claim = None
    mine = records.read_record(ws.state_dir, task)  # before reconcile: did this clone hold it?
    if work and outcome is not ReleaseOutcome.ABANDONED:
        # Its attempts fetch, reconcile and check the holder themselves (one fetch, not two).
        commit, next_claim = _release_with_work(ws, task, outcome, note, claim_next, move_branch, mine)
    else:
        snap = read_snapshot(ws.repo, fetch_main(ws.repo, ws.config.branch))
        reconcile(ws, snap)
        fenced_check_parking(ws, snap, task, mine)
        if outcome is ReleaseOutcome.ABANDONED and work:
            parked_ref, _ = park_local_work(ws, "parked", task) or (None, 0)

        def decide(tip: str | None) -> Change:
            return release_change(ws, task, outcome, note, read_snapshot(ws.repo, tip), mine=mine)

        published = publish(ws.repo, ws.agent, decide, ws.config.branch, first_tip=snap.tip)
        assert published is not None
        commit = published.commit
        work = 0
    records.drop_record(ws.state_dir, task)
    return ReleaseResult(
        task=task, outcome=outcome, commit=commit, work_commits=work, parked_ref=parked_ref, next_claim=next_claim
    )


@dataclass(frozen=True)
class HandBack:
    task: str
    commit: str | None  # the release commit; None when the lock was no longer ours
    parked_ref: str | None = None  # where local commits were kept
    fenced: str = ""  # why nothing was released: the lock is no longer ours


def hand_back(ws: Workspace, task: str, why: str) -> HandBack:
    """Give ``task`` back, with ``why`` as the note: after a failed or stopped session, for a
    killed loop, for a dead container. The lock is released as abandoned; local commits are
    kept on a fresh side ref (``parked``, or ``orphans`` when fenced), never pushed to main.

    A lock that is no longer ours is no error here: someone else has the task, so there is
    nothing to hand back; the claim record goes and the reason is returned. Anything else
    (the upstream down) raises, and the caller tries again later.
    """
    try:
        result = release(ws, task, ReleaseOutcome.ABANDONED, note=why[:200])
    except (Fenced, LockHeld, NotClaimable) as exc:  # reclaimed, held by another, or not held
        records.drop_record(ws.state_dir, task)
        return HandBack(task, None, fenced=str(exc))
    return HandBack(task, result.commit, result.parked_ref)


def release_change(
    ws: Workspace,
    task: str,
    outcome: ReleaseOutcome,
    note: str,
    snap: Snapshot,
    extra_trailers: dict[str, str] | None = None,
    mine: records.ClaimRecord | None = None,
) -> Change:
    lock = holder_check(ws, snap, task, mine)
    files: dict[str, bytes | None] = {lock_path(task): None}
    spec = snap.specs.get(task)
    if outcome is ReleaseOutcome.DONE and spec is not None:
        files[spec_path(task)] = spec.marked_done(ws.agent).to_yaml()
    body = f"{note}\n\n" if note else ""
    extra = "".join(f"{key}: {value}\n" for key, value in (extra_trailers or {}).items())
    trailers = f"Harness-Agent: {ws.agent}\nHarness-Nonce: {lock.nonce}\n{extra}"
    message = f"release: {task} ({outcome.value})\n\n{body}{trailers}"
    return Change(files, message)


def _local_work_count(ws: Workspace) -> int:
    head = ws.repo.rev_parse("HEAD")
    if head is None:
        return 0
    if ws.repo.rev_parse(REMOTE_MAIN) is None:
        return int(ws.repo.out("rev-list", "--count", "HEAD"))
    return ws.repo.commits_between(REMOTE_MAIN, "HEAD")


def _release_with_work(
    ws: Workspace,
    task: str,
    outcome: ReleaseOutcome,
    note: str,
    claim_next: NextClaim | None,
    move_branch: bool,
    mine: records.ClaimRecord | None,
) -> tuple[str, ClaimResult | None]:
    """Rebase the local commits on the tip, add the release commit (and the next claim's),
    push them all at once."""
    env = identity_env(ws.agent)
    based_on: list[str] = []  # the tip our commits were last rebased onto (main never moves back)

    def attempt() -> tuple[str, ClaimResult | None]:
        early = direct_tip(ws.repo, ws.config.branch)
        if early is not None and early not in based_on:
            # A clone borrowing a local upstream's objects reads the tip for free: rebase
            # onto it before queueing, so a turn that finds main unchanged holds the slot,
            # which every other pusher waits for, only to decide and push.
            rebase_onto(ws, early)
            based_on[:] = [early]
        with push_slot(ws.repo):
            commit, planned = _attempt()
        if move_branch:
            # Move the local branch onto the pushed tip (the release only deletes the lock file
            # and marks the spec done); outside the slot, which other pushers are waiting for.
            ws.repo.run("merge", "--ff-only", "--quiet", commit, check=False)
        return commit, planned

    def _attempt() -> tuple[str, ClaimResult | None]:
        tip = fetch_main(ws.repo, ws.config.branch)
        snap = read_snapshot(ws.repo, tip)
        reconcile(ws, snap)
        fenced_check_parking(ws, snap, task, mine)
        if tip not in based_on:
            rebase_onto(ws, REMOTE_MAIN)
            based_on[:] = [tip] if tip else []
        change = release_change(ws, task, outcome, note, snap, mine=mine)
        commit = ws.repo.commit_changes(ws.repo.rev_parse("HEAD"), change.files, change.message, env)
        planned = plan_next_claim(ws, claim_next, commit)
        if planned is not None:
            commit = ws.repo.commit_changes(commit, planned[0].files, planned[0].message, env)
        try:
            status = push_with_network_retry(ws.repo, commit, f"refs/heads/{ws.config.branch}")
        except HarnessError:
            _forget(ws, planned)
            raise
        if status is PushStatus.REJECTED:
            _forget(ws, planned)
            raise retry.PushRaceLost("release push lost a race")
        note_pushed_tip(ws.repo, commit)
        return commit, planned[1] if planned else None

    commit, planned = retry.run(retry.push_race(), attempt)
    if planned is None:
        return commit, None
    try:
        return commit, confirm_claim(ws, planned, commit)
    except LockHeld:
        return commit, None


def plan_next_claim(ws: Workspace, claim_next: NextClaim | None, at: str) -> tuple[Change, ClaimResult] | None:
    """The next task's claim, decided at commit ``at`` (the state our release commit creates:
    its objects are local, so no fetch); None when there is nothing to claim or it cannot be."""
    if claim_next is None:
        return None
    snap = read_snapshot(ws.repo, at)
    request = claim_next(snap)
    if request is None:
        return None
    try:
        change, planned = plan_claim(ws, snap, request, time.time)
    except (LockHeld, NotClaimable, ConfigError):
        return None
    return (change, planned) if change is not None else None


def _forget(ws: Workspace, planned: tuple[Change, ClaimResult] | None) -> None:
    if planned is not None:
        drop_if_pending(ws, planned[1].task, planned[1].lock.nonce)


def fenced_check_parking(ws: Workspace, snap: Snapshot, task: str, mine: records.ClaimRecord | None = None) -> None:
    """The holder check; whatever it refuses, local commits go to an orphan ref first (they
    also stay in the clone): no path of a release loses work. ``mine``: this clone's claim
    record as it was before reconciling (read now when None)."""
    record = records.read_record(ws.state_dir, task)
    if record is not None and record.state == records.ClaimState.PENDING:
        # reconcile() left it pending: a killed claimer's push of this claim still runs and
        # may yet land. Not fenced (the record would go and the lock land with no owner).
        raise HarnessError(f"the claim of {task} is still being pushed; release it once that push has ended")
    try:
        holder_check(ws, snap, task, mine)
    except (Fenced, LockHeld, NotClaimable) as exc:
        parked = park_local_work(ws, "orphans", task)
        where = f"; your {parked[1]} commit(s) are kept on {parked[0]}" if parked else ""
        raise type(exc)(f"{exc}{where}") from exc


def rebase_onto(ws: Workspace, upstream: str) -> None:
    proc = ws.repo.run("rebase", "--quiet", "--autostash", upstream, check=False)
    if proc.returncode != 0:
        conflicted = ws.repo.out("diff", "--name-only", "--diff-filter=U").split()
        ws.repo.run("rebase", "--abort", check=False)
        files = ", ".join(conflicted[:5]) or "(see git status)"
        raise RebaseConflict(
            f"your commits conflict with upstream main in {files}; nothing was pushed and your "
            f"commits are unchanged: resolve (git pull --rebase) and run the release again"
        )


def park_local_work(ws: Workspace, kind: str, task: str) -> tuple[str, int] | None:
    """Push local commits that upstream main lacks to a fresh side ref; (ref, count) or None.

    The ref is ``refs/harness/<kind>/<agent>/<task>-<time>-<sha>``: a new name each time, so
    parking the same task twice never overwrites the work parked first.
    """
    count = _local_work_count(ws)
    if not count:
        return None
    short = ws.repo.out("rev-parse", "--short", "HEAD")
    ref = f"refs/harness/{kind}/{ws.agent}/{task}-{time.strftime('%Y%m%dT%H%M%S')}-{short}"
    push_with_network_retry(ws.repo, "HEAD", ref)
    return ref, count
