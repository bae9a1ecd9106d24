"""The lock protocol: claim, release, heartbeat, reclaim of stale locks, and status.

See DESIGN.md ("The lock protocol") and current_tasks/README.md. In short: a claim is a
commit adding ``current_tasks/<task>.lock`` (with a fresh nonce) pushed to upstream ``main``
without force; exactly one racer's push lands, the others re-fetch, see the lock and exit 3.
The nonce is then confirmed at the upstream tip; a claim whose push was interrupted is
reconciled by the nonce. A release must find our nonce at the tip, otherwise we were
fenced: nothing is deleted and our commits are parked on an orphan ref.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.config import LEASE_MAX_SECONDS, LEASE_MIN_SECONDS
from harness.errors import ConfigError, Fenced, LockHeld, NotClaimable, UsageError, warn
from harness.git.leftovers import abort_interrupted
from harness.git.publish import REMOTE_MAIN, Change, fetch_main, publish
from harness.git.stalelocks import Holder, pushes_running
from harness.git.upstream import direct_tip
from harness.locks import records
from harness.locks.heartbeats import fetch_heartbeats, liveness, push_heartbeat
from harness.locks.lockfile import Lock, LockEntry, lock_path, new_nonce, utc_iso, validate_task_id
from harness.locks.snapshot import Snapshot, read_snapshot
from harness.tasks.specs import unclaimable_reason
from harness.workspace import Workspace

Clock = Callable[[], float]


@dataclass(frozen=True, kw_only=True)
class ClaimResult:
    task: str
    lock: Lock
    commit: str | None  # None when we already held it
    reclaimed_from: str | None = None  # agent whose stale lock we took over
    already_held: bool = False


def claim(
    ws: Workspace,
    task: str,
    role: str = "",
    note: str = "",
    files: Sequence[str] = (),
    lease_seconds: int | None = None,
    clock: Clock = time.time,
    tip: str | None = None,
    spec_required: bool = False,
) -> ClaimResult:
    """Claim ``task`` for ``ws.agent``; LockHeld (3) / NotClaimable (4) when we cannot.

    ``tip``: an upstream tip the caller fetched a moment ago; the first attempt decides on
    it without fetching again (if main moved since, the push loses and we fetch and retry).
    ``spec_required``: refuse (4) an id with no spec when the tip has specs (a typo claims
    nothing real); `harness claim` asks for it unless given ``--no-spec``.
    """
    validate_task_id(task)
    if lease_seconds is not None and not LEASE_MIN_SECONDS <= lease_seconds <= LEASE_MAX_SECONDS:
        raise UsageError(f"lease of {lease_seconds} s: use {LEASE_MIN_SECONDS} to {LEASE_MAX_SECONDS} seconds")
    abort_interrupted(ws.repo)  # a claim leaves the worktree alone, but what follows needs it clean
    request = ClaimRequest(
        task=task,
        role=role,
        note=note,
        files=tuple(files),
        lease_seconds=lease_seconds,
        nonce=new_nonce(),
        spec_required=spec_required,
    )
    outcome: dict[str, ClaimResult] = {}

    def decide(tip: str | None) -> Change | None:
        snap = read_snapshot(ws.repo, tip)
        reconcile(ws, snap, in_progress=request.nonce)
        change, outcome["result"] = plan_claim(ws, snap, request, clock)
        return change

    try:
        published = publish(ws.repo, ws.agent, decide, ws.config.branch, first_tip=tip)
    except (LockHeld, NotClaimable, ConfigError):
        drop_if_pending(ws, task, request.nonce)
        raise
    result = outcome["result"]
    if published is None:
        return result
    return confirm_claim(ws, result, published.commit)


@dataclass(frozen=True, kw_only=True)
class ClaimRequest:
    task: str
    role: str = ""
    note: str = ""
    files: tuple[str, ...] = ()
    lease_seconds: int | None = None
    nonce: str = ""
    spec_required: bool = False


def plan_claim(ws: Workspace, snap: Snapshot, request: ClaimRequest, clock: Clock) -> tuple[Change | None, ClaimResult]:
    """The claim commit's change at ``snap`` (None when we hold the task already), with a
    pending record written; LockHeld / NotClaimable / ConfigError when it cannot be made."""
    task = request.task
    if snap.lock_dir_problem:
        raise ConfigError(snap.lock_dir_problem)
    if task in snap.spec_problems:
        raise ConfigError(snap.spec_problems[task])
    entry = snap.entries.get(task)
    previous = _stale_lock_or_raise(ws, entry, clock) if entry else None
    if entry and previous is None:  # we hold it already
        assert entry.lock is not None
        return None, ClaimResult(task=task, lock=entry.lock, commit=None, already_held=True)
    reason = unclaimable_reason(snap.board(), task, request.files)
    if reason:
        raise NotClaimable(reason)
    spec = snap.specs.get(task)
    if spec is None and request.spec_required and snap.specs:
        raise NotClaimable(_no_spec(task, sorted(snap.specs)))
    lock = Lock(
        task=task,
        agent=ws.agent,
        role=request.role or (spec.role if spec and spec.role else ""),
        host=os.uname().nodename,
        nonce=request.nonce,
        generation=previous.generation + 1 if previous else 1,
        claimed_at=clock(),
        lease_seconds=request.lease_seconds or ws.config.locks.lease_seconds,
        note=request.note,
        files=request.files or (spec.files if spec else ()),
    )
    records.write_record(ws.state_dir, records.ClaimRecord(task, ws.agent, request.nonce, records.ClaimState.PENDING))
    reclaimed = previous.agent if previous else None
    change = Change({lock_path(task): lock.to_yaml()}, _claim_message(lock, request.note, previous))
    return change, ClaimResult(task=task, lock=lock, commit=None, reclaimed_from=reclaimed)


def _no_spec(task: str, specs: list[str]) -> str:
    import difflib

    near = difflib.get_close_matches(task, specs, n=1)
    hint = f"did you mean {near[0]}? " if near else ""
    return (
        f"{task}: no spec tasks/{task}.yaml at the upstream tip ({len(specs)} other specs); {hint}"
        "pass --no-spec to claim a task without one"
    )


def confirm_claim(ws: Workspace, planned: ClaimResult, commit: str) -> ClaimResult:
    """After the push that carried the claim: the nonce at the tip (invariant 2), then held."""
    _confirm_nonce(ws, planned.task, planned.lock.nonce, commit)
    records.write_record(
        ws.state_dir, records.ClaimRecord(planned.task, ws.agent, planned.lock.nonce, records.ClaimState.HELD)
    )
    return ClaimResult(task=planned.task, lock=planned.lock, commit=commit, reclaimed_from=planned.reclaimed_from)


def _claim_message(lock: Lock, note: str, previous: Lock | None) -> str:
    body = f"{note}\n\n" if note else ""
    trailers = f"Harness-Agent: {lock.agent}\nHarness-Nonce: {lock.nonce}\n"
    if previous is not None:
        trailers += f"Harness-Reclaims: {previous.nonce}\n"
    verb = "reclaim" if previous else "claim"
    return f"{verb}: {lock.task}\n\n{body}{trailers}"


def _stale_lock_or_raise(ws: Workspace, entry: LockEntry, clock: Clock) -> Lock | None:
    """The stale lock we may take over; None if it is already ours; LockHeld otherwise."""
    if entry.lock is None:
        if entry.path.endswith(".lock"):
            raise ConfigError(entry.problem)
        raise LockHeld(
            f"{entry.task} is held by {entry.path}, a lock harness did not write "
            f"({entry.first_line!r}); if nobody holds it, delete that file in a commit"
        )
    lock = entry.lock
    record = records.read_record(ws.state_dir, entry.task)
    if lock.agent == ws.agent and (record is None or record.nonce == lock.nonce):
        # Ours: this clone claimed it, or a restarted incarnation of the same agent did.
        records.write_record(
            ws.state_dir, records.ClaimRecord(entry.task, ws.agent, lock.nonce, records.ClaimState.HELD)
        )
        return None
    state = liveness(lock, fetch_heartbeats(ws.repo), ws.config.locks, clock())
    if not state.stale:
        raise LockHeld(
            f"{entry.task} is held by {lock.agent} (claimed {utc_iso(lock.claimed_at)}, "
            f"last alive {int(state.age)} s ago, stale after {int(state.stale_after)} s)"
        )
    if state.future:
        warn(f"{entry.path}: {state.future}; treating the lock as stale")
    return lock


def _confirm_nonce(ws: Workspace, task: str, nonce: str, commit: str) -> None:
    """Invariant 2: after the push, find our nonce at the upstream tip."""
    tip = direct_tip(ws.repo, ws.config.branch) or ws.repo.remote_ref(f"refs/heads/{ws.config.branch}")
    if tip != commit:
        tip = fetch_main(ws.repo, ws.config.branch)
        entry = read_snapshot(ws.repo, tip).entries.get(task)
        if entry is None or entry.lock is None or entry.lock.nonce != nonce:
            records.drop_record(ws.state_dir, task)
            holder = entry.lock.agent if entry and entry.lock else "nobody"
            raise LockHeld(f"{task}: our claim landed but the tip no longer carries it (now held by {holder})")


def drop_if_pending(ws: Workspace, task: str, nonce: str) -> None:
    record = records.read_record(ws.state_dir, task)
    if record is not None and record.nonce == nonce and record.state == records.ClaimState.PENDING:
        records.drop_record(ws.state_dir, task)


def reconcile(ws: Workspace, snap: Snapshot, in_progress: str = "") -> list[str]:
    """Settle this clone's claim records against the tip, by nonce. Returns what changed.

    A pending claim missing from the tip while a push from this clone still runs may yet
    land (a killed claimer's push finishes by itself: git/spawn.py); it stays pending.
    ``in_progress``: the nonce of the claim the caller is making (its own record is its own).
    """
    notes = []
    running: list[Holder] | None = None
    for record in records.all_records(ws.state_dir):
        if record.nonce == in_progress:
            continue
        entry = snap.entries.get(record.task)
        ours = entry is not None and entry.lock is not None and entry.lock.nonce == record.nonce
        if ours and record.state == records.ClaimState.PENDING:
            records.write_record(
                ws.state_dir, records.ClaimRecord(record.task, record.agent, record.nonce, records.ClaimState.HELD)
            )
            notes.append(f"reconciled: the interrupted claim of {record.task} landed; you hold it")
        elif not ours:
            if record.state == records.ClaimState.PENDING:
                running = pushes_running(ws.repo.git_dir) if running is None else running
                if running:
                    notes.append(
                        f"the interrupted claim of {record.task} is still on its way (git push, pid "
                        f"{running[0].pid}); it is settled once that push ends"
                    )
                    continue
            records.drop_record(ws.state_dir, record.task)
            if record.state == records.ClaimState.PENDING:
                notes.append(f"reconciled: the interrupted claim of {record.task} did not land")
    return notes


def heartbeat(ws: Workspace, clock: Clock = time.time) -> str:
    return push_heartbeat(ws.repo, ws.agent, clock())


def holder_check(ws: Workspace, snap: Snapshot, task: str, record: records.ClaimRecord | None = None) -> Lock:
    """The lock at the tip, if it is ours; ``record``: this clone's claim record as it was
    before any reconcile (read here when not given). Otherwise: Fenced (5) when this clone
    held the lock and lost it (reclaimed, or removed); LockHeld (3) when another agent holds
    it, even one that claimed it from this very clone; NotClaimable (4) when nobody holds it."""
    if record is None:
        record = records.read_record(ws.state_dir, task)
    entry = snap.entries.get(task)
    if entry is None or entry.lock is None:
        if record is None:
            raise NotClaimable(f"{task} is not locked at the upstream tip: not held, nothing to release")
        raise Fenced(f"{task}: your lock is gone from the upstream tip (released or removed by someone else)")
    lock = entry.lock
    if record is not None and record.nonce != lock.nonce:
        raise Fenced(f"{task} was reclaimed by {lock.agent} (generation {lock.generation}); your lock is gone")
    if lock.agent != ws.agent:
        raise LockHeld(
            f"{task} is held by {lock.agent}, not by {ws.agent}: only its holder releases it (--agent {lock.agent})"
        )
    return lock


__all__ = [
    "REMOTE_MAIN",
    "ClaimRequest",
    "ClaimResult",
    "claim",
    "confirm_claim",
    "drop_if_pending",
    "heartbeat",
    "holder_check",
    "plan_claim",
    "reconcile",
]
