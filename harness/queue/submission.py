"""Submissions: what an agent hands the merge queue, kept as refs on the upstream.

A submission is the agent's work rebased on a recent ``main`` plus its release commit (the
lock's deletion and, for a spec'd task, the spec marked done), pushed to
``refs/harness/queue/<task>``. The release commit's trailers say who submitted it, under
which lock (the nonce, for fencing) and with which role. The lock stays on ``main`` while
the submission waits, so no other agent claims the task: it shows as ``queued``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from harness.errors import HarnessError, LockHeld
from harness.git.leftovers import abort_interrupted
from harness.git.publish import fetch_main, note_pushed_tip
from harness.git.pushslot import push_slot
from harness.git.repo import GitRepo, PushStatus, identity_env
from harness.git.upstream import local_upstream_path
from harness.locks import records
from harness.locks.claim import ClaimResult, confirm_claim, drop_if_pending, holder_check, reconcile
from harness.locks.release import (
    NextClaim,
    ReleaseOutcome,
    fenced_check_parking,
    plan_next_claim,
    rebase_onto,
    release_change,
)
from harness.locks.snapshot import read_snapshot
from harness.workspace import Workspace

QUEUE_PREFIX = "refs/harness/queue/"
REFUSED_PREFIX = "refs/harness/refused/"
ROLE_TRAILER = "Harness-Role"


@dataclass(frozen=True, kw_only=True)
class Submission:
    task: str
    ref: str
    commit: str
    agent: str
    nonce: str
    role: str
    submitted_at: int  # the submitter's commit date: orders the queue, decides nothing else

    @property
    def short(self) -> str:
        return self.commit[:12]


def queue_ref(task: str) -> str:
    return f"{QUEUE_PREFIX}{task}"


def trailers(message: str) -> dict[str, str]:
    """``Key: value`` lines of a commit message (the last one of each key wins)."""
    found: dict[str, str] = {}
    for line in message.splitlines():
        key, sep, value = line.partition(": ")
        if sep and key.startswith("Harness-") and " " not in key:
            found[key] = value.strip()
    return found


_FORMAT = "%(refname)%00%(objectname)%00%(committerdate:unix)%00%(contents)%00%00"


def read_submissions(repo: GitRepo) -> list[Submission]:
    """Every submission waiting on the upstream, oldest first (then by task id)."""
    text = repo.run("for-each-ref", f"--format={_FORMAT}", QUEUE_PREFIX).stdout.decode(errors="replace")
    found = []
    for record in text.split("\0\0"):
        fields = record.strip("\n").split("\0")
        if len(fields) < 4 or not fields[0].startswith(QUEUE_PREFIX):
            continue
        ref, commit, date, message = fields[:4]
        info = trailers(message)
        found.append(
            Submission(
                task=ref.removeprefix(QUEUE_PREFIX),
                ref=ref,
                commit=commit,
                agent=info.get("Harness-Agent", "?"),
                nonce=info.get("Harness-Nonce", ""),
                role=info.get(ROLE_TRAILER, ""),
                submitted_at=int(date or 0),
            )
        )
    return sorted(found, key=lambda s: (s.submitted_at, s.task))


@dataclass(frozen=True)
class Submitted:
    task: str
    commit: str
    ref: str
    work_commits: int
    next_claim: ClaimResult | None = None  # the claim that rode in the same push


def submit(ws: Workspace, task: str, role: str, note: str = "", claim_next: NextClaim | None = None) -> Submitted:
    """Rebase our work on the tip, add the release commit, push both to the task's queue ref.

    Fenced (5) when the tip no longer carries our lock (the work is parked first). The push
    replaces an earlier submission of ours for the task: the runner takes the newest.
    ``claim_next`` (the loop's): the next task's claim on main rides in the same push.
    """
    abort_interrupted(ws.repo)  # a submission killed during its rebase must not fail the next one
    mine = records.read_record(ws.state_dir, task)  # before reconcile: did this clone hold it?
    tip = fetch_main(ws.repo, ws.config.branch)
    snap = read_snapshot(ws.repo, tip)
    reconcile(ws, snap)
    fenced_check_parking(ws, snap, task, mine)
    if tip is not None:
        rebase_onto(ws, "refs/remotes/origin/" + ws.config.branch)
    head = ws.repo.rev_parse("HEAD")
    work = ws.repo.commits_between(tip, "HEAD") if tip and head else 0
    if not work:
        raise HarnessError(f"{task}: nothing to submit (no commits on top of upstream main); release it instead")
    change = release_change(ws, task, ReleaseOutcome.DONE, note, snap, extra_trailers={ROLE_TRAILER: role}, mine=mine)
    commit = ws.repo.commit_changes(head, change.files, change.message, identity_env(ws.agent))
    ref = queue_ref(task)
    pushed, claimed = _push_with_claim(ws, commit, ref, claim_next) if claim_next else (False, None)
    if not pushed:  # detached from a local upstream: a kill must not stop receive-pack half-way
        result = ws.repo.push(commit, ref, force=True, detach=local_upstream_path(ws.repo) is not None)
        if result.status is not PushStatus.OK:
            lines = "; ".join(result.remote_lines) or "the upstream refused the push"
            raise HarnessError(f"{task}: could not submit to {ref}: {lines}; your commits are unchanged")
    holder_check(ws, snap, task, mine)
    records.drop_record(ws.state_dir, task)  # the queue holds the task now
    return Submitted(task, commit, ref, work, next_claim=claimed)


def _push_with_claim(ws: Workspace, commit: str, ref: str, claim_next: NextClaim) -> tuple[bool, ClaimResult | None]:
    """The submission and the next claim in one atomic push: one trip through the upstream per
    iteration, as a release without the queue makes. (pushed, the claim held or None): not
    pushed when there was nothing to claim, main moved under the claim or the upstream said no,
    and the caller pushes the submission alone."""
    with push_slot(ws.repo):  # the claim moves main: it takes its turn like every push there
        tip = fetch_main(ws.repo, ws.config.branch)
        planned = plan_next_claim(ws, claim_next, tip) if tip is not None else None
        if planned is None or tip is None:
            return False, None
        change, claim = planned
        commit_claim = ws.repo.commit_changes(tip, change.files, change.message, identity_env(ws.agent))
        specs = ((commit, ref, True), (commit_claim, f"refs/heads/{ws.config.branch}", False))
        detach = local_upstream_path(ws.repo) is not None  # a kill must not stop receive-pack half-way
        try:
            result = ws.repo.push_atomic(specs, detach=detach)
        except HarnessError:
            drop_if_pending(ws, claim.task, claim.lock.nonce)
            raise
        if result.status is not PushStatus.OK:
            drop_if_pending(ws, claim.task, claim.lock.nonce)
            return False, None
        note_pushed_tip(ws.repo, commit_claim)
    try:
        return True, confirm_claim(ws, claim, commit_claim)
    except LockHeld:
        return True, None


def submits_to_queue(ws: Workspace) -> bool:
    """Whether ``release --done`` with local work goes to the queue: harness.yaml turns the
    queue on and there is work to submit (a bare release still goes straight to main)."""
    from harness.config import read_queue_settings

    if not read_queue_settings(ws.config).enabled:
        return False
    tip = ws.repo.rev_parse("refs/remotes/origin/" + ws.config.branch)
    head = ws.repo.rev_parse("HEAD")
    return head is not None and head != tip and (tip is None or ws.repo.commits_between(tip, "HEAD") > 0)


def stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime())
