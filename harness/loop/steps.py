"""The steps of one loop iteration, each small and named: sync, recover, pick/claim,
session (loop_session.py), integrate, hand back. ``loop.py`` strings them together and
records the result.

Every step that touches a lock ends with the lock released or handed back, whatever the
session did (invariant 7), and every commit the agent made is pushed or parked (invariant 6).
"""

from __future__ import annotations

import hashlib
import importlib.util
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from harness import retry
from harness.errors import Fenced, GateRefused, HarnessError, LockHeld, NotClaimable, RebaseConflict
from harness.git.leftovers import abort_interrupted
from harness.git.publish import REMOTE_MAIN, fetch_main
from harness.git.repo import identity_env
from harness.git.stalelocks import sweep
from harness.locks import records
from harness.locks.claim import ClaimRequest, claim
from harness.locks.lockfile import new_nonce
from harness.locks.release import NextClaim, ReleaseOutcome, release
from harness.locks.release import hand_back as hand_back_lock
from harness.locks.snapshot import Snapshot, read_snapshot
from harness.loop.config import LoopMode
from harness.loop.context import Ctx
from harness.loop.events import REFUSED_NOTE, IterationEvent, IterationOutcome
from harness.loop.integrate import RebaseVerdict, Regenerate, park, rebase_onto_upstream
from harness.loop.session import run_agent
from harness.loop.submit import fast_sample_regressions, queue_enabled, submit_work
from harness.tasks.specs import TaskSpec, claimable
from harness.workspace import Workspace

CLAIM_ATTEMPTS = 6  # candidates tried per iteration before backing off
INTEGRATE_DEADLINE_SECONDS = 600.0  # keep retrying lost push races this long before parking the work


# -- sync and recovery -----------------------------------------------------------


def sync(ctx: Ctx, event: IterationEvent) -> None:
    """Fetch; park anything left in the clone (``start_from_tip`` resets it later)."""
    ws = ctx.ws
    # HEAD at the tip we last knew: nothing of ours can be unpushed (checked before the
    # fetch moves origin/main away from it; counting afterwards needs a rev-list).
    head = ws.repo.rev_parse("HEAD")
    at_known_tip = head is not None and head == ws.repo.rev_parse(REMOTE_MAIN)
    fetch_main(ws.repo, ws.config.branch)
    sweep(ws.repo.git_dir)  # git lock files a killed session left in the clone
    if abort_interrupted(ws.repo):
        at_known_tip = False
    if ws.repo.out("status", "--porcelain", "--untracked-files=all"):
        ws.repo.run("add", "-A")
        ws.repo.run(
            "commit",
            "--quiet",
            "--no-verify",
            "-m",
            "wip: left uncommitted by an earlier session",
            env=identity_env(ws.agent),
        )
        at_known_tip = False
    if not at_known_tip and ws.repo.rev_parse("HEAD") is not None and ws.repo.commits_between(REMOTE_MAIN, "HEAD"):
        ref = park(ws, "unpushed")
        ctx.say(f"ERROR sync: commits no iteration pushed were parked on {ref}")


def start_from_tip(ws: Workspace) -> None:
    """The worktree becomes upstream main as last fetched (with our claim, if we made one).

    Run after the claim, not in ``sync``: one checkout instead of a checkout before the
    claim and a merge after it. No ``git clean`` is needed: ``sync`` committed every
    untracked file it found, so the checkout leaves none behind.
    """
    ws.repo.run("checkout", "--quiet", "--force", "-B", ws.config.branch, REMOTE_MAIN)


def hand_back_leftovers(ctx: Ctx) -> list[str]:
    """Locks this clone still holds from an earlier iteration or a killed loop: hand back
    (not the one the last release claimed for this iteration)."""
    returned = []
    for record in records.all_records(ctx.ws.state_dir):
        if ctx.preclaimed is not None and record.task == ctx.preclaimed.id:
            continue
        returned.append(record.task)
        hand_back(ctx, record.task, "left held by an earlier iteration")
    return returned


# -- pick and claim --------------------------------------------------------------


def choose_mode(ctx: Ctx, snap: Snapshot) -> LoopMode:
    if ctx.loop.mode is not LoopMode.AUTO:
        return ctx.loop.mode
    return LoopMode.QUEUE if snap.specs or snap.spec_problems else LoopMode.OPEN


def open_tasks_left(ctx: Ctx, snap: Snapshot) -> int:
    """Open specs this role may take (held or queued ones included: they may come back)."""
    stuck = snap.board().dependency_problems  # a dependency cycle or a missing one: never claimable
    mine = (s for s in snap.specs.values() if s.role in (None, ctx.role) and s.id not in ctx.skip)
    return sum(1 for s in mine if s.status == "open" and s.id not in stuck)


def no_open_task(ctx: Ctx, snap: Snapshot) -> str:
    """Why there is nothing for this role to take at ``snap``; "" when there is a task."""
    if any(spec.id not in ctx.skip for spec in claimable(snap.board(), ctx.role)):
        return ""
    if not snap.specs:
        return "no task specs at upstream main yet (add one: harness tasks add ID --title TEXT)"
    left = open_tasks_left(ctx, snap)
    if not left:
        return f"no open task for role {ctx.role}: every task spec is done or for another role"
    return f"no claimable task for role {ctx.role}: {left} open task(s), all held, blocked or left to others"


def pick_and_claim(ctx: Ctx, event: IterationEvent, synced: Snapshot) -> tuple[TaskSpec | None, bool]:
    """Claim the scheduler's choice; (spec, drained). Lost races move on to the next candidate.

    ``synced``: the tip sync just fetched; the first look, and the claim on it, need no
    second fetch.
    """
    ws = ctx.ws
    ahead = _take_preclaimed(ctx, synced)
    if ahead is not None:
        return ahead, False
    for attempt in range(CLAIM_ATTEMPTS):
        snap = synced if attempt == 0 else read_snapshot(ws.repo, fetch_main(ws.repo, ws.config.branch))
        tip = snap.tip
        board = snap.board()
        for problem in snap.problems(board):
            if problem not in ctx.reported:  # once per loop run: the file stays broken until fixed
                ctx.reported.add(problem)
                ctx.say(f"ERROR {problem}")
        ranked = [spec for spec in claimable(board, ctx.role) if spec.id not in ctx.skip]
        if not ranked:
            # Open tasks held by others (or waiting in the merge queue) may come back: wait for
            # them. Done and blocked ones will not, nor those that can never be claimed (a
            # dependency cycle, a missing dependency).
            ctx.idle_why = no_open_task(ctx, snap)
            return None, open_tasks_left(ctx, snap) == 0
        spec = spread(ranked, ws.agent, attempt)
        try:
            claim(ws, spec.id, role=ctx.role, lease_seconds=None, tip=tip)
        except (LockHeld, NotClaimable):
            event.claims_lost += 1
            continue
        return spec, False
    return None, False


def _take_preclaimed(ctx: Ctx, snap: Snapshot) -> TaskSpec | None:
    """The task the last release claimed for us, if the tip (as sync fetched it) still
    carries our lock; its spec as the tip has it."""
    spec, ctx.preclaimed = ctx.preclaimed, None
    if spec is None:
        return None
    record = records.read_record(ctx.ws.state_dir, spec.id)
    entry = snap.entries.get(spec.id)
    if record is None or entry is None or entry.lock is None or entry.lock.nonce != record.nonce:
        return None  # gone (fenced, or handed back): pick afresh; recover cleans the record up
    return snap.specs.get(spec.id, spec)


def next_claim_picker(ctx: Ctx, event: IterationEvent) -> tuple[NextClaim | None, dict[str, TaskSpec]]:
    """For the release: the scheduler's next pick at the state the release creates, so the
    next claim rides in the same push. (None, {}) when the loop is about to stop."""
    chosen: dict[str, TaskSpec] = {}
    if ctx.stop_requested() or not ctx.claim_ahead(event):
        return None, chosen

    def pick(snap: Snapshot) -> ClaimRequest | None:
        ranked = [spec for spec in claimable(snap.board(), ctx.role) if spec.id not in ctx.skip]
        if not ranked:
            return None
        spec = spread(ranked, ctx.ws.agent)
        chosen[spec.id] = spec
        return ClaimRequest(task=spec.id, role=ctx.role, nonce=new_nonce())

    return pick, chosen


def spread(ranked: list[TaskSpec], agent: str, attempt: int = 0) -> TaskSpec:
    """Among the best few candidates, a stable per-agent choice: N agents asking at once do
    not all race for the single top task (measured: that costs one lost claim per agent).
    A lost race moves the choice (``attempt``), so two agents that collided once do not keep
    colliding on the same pick."""
    top = ranked[: min(len(ranked), 8)]
    index = int(hashlib.sha1(f"{agent}/{attempt}".encode()).hexdigest(), 16) % len(top)
    return top[index]


# -- after the session -----------------------------------------------------------


def integrate_and_release(ctx: Ctx, spec: TaskSpec, iteration: int, event: IterationEvent) -> IterationOutcome:
    """Rebase by conflict class, gate, release done with the work. Returns the outcome.

    A push that loses a race (upstream moved under the release, or the upstream's gate saw
    main move while it tested us) is retried under the push-race policy: contention is not
    a reason to park independent work.
    """
    # Without a gate the common case (no conflict) goes straight to the release, which
    # rebases and pushes by itself: one fetch and one rebase less inside the race window.
    # Our own rebase by conflict class runs first when the gate must judge rebased commits,
    # and after the release reported a conflict.
    # With the merge queue the submission rebases by itself and the runner tests the result:
    # our own rebase comes only after the submission reported a conflict.
    state = {"rebase": gate_configured(ctx) and not queue_enabled(ctx)}
    try:
        return retry.run(
            retry.push_race(INTEGRATE_DEADLINE_SECONDS), lambda: _integrate_once(ctx, spec, iteration, event, state)
        )
    except retry.PushRaceLost:
        ref = park(ctx.ws, spec.id)
        ctx.say(f"ERROR {spec.id}: upstream kept moving under the release; work kept on {ref}")
        _drop_local_work(ctx.ws)
        hand_back(ctx, spec.id, "could not integrate")
        return IterationOutcome.PARKED


def _integrate_once(
    ctx: Ctx, spec: TaskSpec, iteration: int, event: IterationEvent, state: dict[str, bool]
) -> IterationOutcome:
    ws = ctx.ws
    if state["rebase"]:
        outcome = _rebase_by_class(ctx, spec, iteration, event)
        if outcome is not None:
            return outcome
    if queue_enabled(ctx):
        return _submit_to_queue(ctx, spec, iteration, event, state)
    picker, chosen = next_claim_picker(ctx, event)
    try:
        with timed(event, "gate"):
            gate(ctx)
        with timed(event, "push"):  # on a gated upstream: its gate's run, and its queue
            released = release(
                ws, spec.id, ReleaseOutcome.DONE, note=f"iteration {iteration}", claim_next=picker, move_branch=False
            )
    except GateRefused as exc:
        if not ws.repo.is_ancestor(REMOTE_MAIN, "HEAD"):
            # Main moved between our rebase and the gate's look at it: the gate judged our
            # commits against a tip they do not contain (tests "missing"). Rebase and retry.
            raise retry.PushRaceLost("main moved between the rebase and the gate") from exc
        event.pushes_refused += 1
        ctx.skip.add(spec.id)
        ref = park(ws, spec.id)
        ctx.say(f"ERROR {spec.id}: push refused ({exc}); work kept on {ref}; this loop leaves it to others")
        event.error = str(exc)
        _drop_local_work(ws)
        hand_back(ctx, spec.id, f"{REFUSED_NOTE}: {exc}")  # the refusal (failing tests) stays with the task
        return IterationOutcome.REFUSED
    except Fenced as exc:
        ctx.say(f"ERROR {spec.id}: {exc}")
        event.error = str(exc)
        return IterationOutcome.FENCED
    except RebaseConflict as exc:
        state["rebase"] = True
        # Upstream moved with a conflicting change between our rebase and the release's push.
        raise retry.PushRaceLost("a conflicting change landed under the release") from exc
    event.commits_pushed = released.work_commits
    if released.next_claim is not None:
        ctx.preclaimed = chosen[released.next_claim.task]
    return IterationOutcome.DONE


def _submit_to_queue(
    ctx: Ctx, spec: TaskSpec, iteration: int, event: IterationEvent, state: dict[str, bool]
) -> IterationOutcome:
    regressions = fast_sample_regressions(ctx)
    if regressions:
        event.pushes_refused += 1
        event.error = regressions[0]
        for line in regressions:
            ctx.say(line)
        hand_back(ctx, spec.id, f"the fast sample found {len(regressions)} regression(s)")
        return IterationOutcome.REFUSED
    try:
        outcome = submit_work(ctx, spec, iteration, event, next_claim_picker(ctx, event))
    except Fenced as exc:
        ctx.say(f"ERROR {spec.id}: {exc}")
        event.error = str(exc)
        return IterationOutcome.FENCED
    except RebaseConflict as exc:
        state["rebase"] = True
        raise retry.PushRaceLost("a conflicting change landed before the submission") from exc
    # The work is on its queue ref now: the clone goes back to main, so the next sync finds
    # nothing unpushed to park (and the next session starts from the tip, not from this work).
    _drop_local_work(ctx.ws)
    return outcome


@contextmanager
def timed(event: IterationEvent, step: str) -> Iterator[None]:
    """Add the block's seconds to ``event.steps[step]`` (parts of the integrate step: the
    demo's summary and the benchmarks tell the gate's time from the agents')."""
    start = time.monotonic()
    try:
        yield
    finally:
        event.steps[step] = round(event.steps.get(step, 0.0) + time.monotonic() - start, 3)


def _rebase_by_class(ctx: Ctx, spec: TaskSpec, iteration: int, event: IterationEvent) -> IterationOutcome | None:
    """Rebase onto a fresh tip by conflict class; None when clean, else the outcome (handed back)."""
    ws = ctx.ws
    fetch_main(ws.repo, ws.config.branch)

    def resolver(files: list[str]) -> bool:
        return run_agent(ctx, iteration, LoopMode.QUEUE, spec, kind="resolve", conflicts=files).result.ok

    loop = ctx.loop
    regenerate = Regenerate(loop.regenerate, loop.regenerate_timeout_seconds, loop.kill_grace_seconds)
    result = rebase_onto_upstream(ws, spec.id, resolver, regenerate, loop.resolution_sessions)
    event.conflicts_resolved += result.resolved
    if result.verdict is RebaseVerdict.CLEAN:
        return None
    ctx.say(f"ERROR {spec.id}: {result.error}")
    event.error = result.error
    _drop_local_work(ws)
    hand_back(ctx, spec.id, result.error)
    return IterationOutcome(result.verdict.value)  # lost or parked: the same words


def gate_configured(ctx: Ctx) -> bool:
    return bool(ctx.ws.config.raw.get("tests")) and importlib.util.find_spec("harness.gate.check") is not None


def gate(ctx: Ctx) -> None:
    """The pre-push gate, when harness.gate.check exists and harness.yaml configures tests."""
    if not gate_configured(ctx):
        return
    module = importlib.import_module("harness.gate.check")
    pre_push: Callable[[Workspace], object] | None = getattr(module, "pre_push", None)
    if pre_push is not None:
        pre_push(ctx.ws)


def hand_back(ctx: Ctx, task: str, why: str) -> None:
    """Hand the task back (local commits kept on a side ref), say where; never raises."""
    error = try_hand_back(ctx, task, why)
    if error:
        ctx.say(f"ERROR {task}: could not hand the lock back ({error}); the next iteration retries")


def try_hand_back(ctx: Ctx, task: str, why: str) -> str:
    """Hand the task back and say where its commits went; "" when done (or no longer ours),
    else why it could not be (the claim record stays, so a later attempt retries)."""
    try:
        back = hand_back_lock(ctx.ws, task, why)
    except HarnessError as exc:
        return str(exc)
    if back.fenced:
        ctx.say(f"ERROR {task}: {back.fenced}")
    elif back.parked_ref:
        ctx.say(f"ERROR {task}: handed back ({why}); commits kept on {back.parked_ref}")
    if has_local_work(ctx.ws):  # the hand-back kept these commits on a side ref: start the next one clean
        _drop_local_work(ctx.ws)  # (with no commits, uncommitted files stay for sync to park)
    return ""


def still_held(ctx: Ctx, task: str) -> bool:
    """Our claim record survives unless the agent released the task itself (release drops
    it); fencing, if any, is found by the release that follows. No fetch needed."""
    return records.read_record(ctx.ws.state_dir, task) is not None


def has_local_work(ws: Workspace) -> bool:
    head = ws.repo.rev_parse("HEAD")
    return head is not None and ws.repo.commits_between(REMOTE_MAIN, head) > 0


def _drop_local_work(ws: Workspace) -> None:
    """After parking: the clone goes back to upstream so the release parks nothing twice."""
    ws.repo.run("reset", "--quiet", "--hard", REMOTE_MAIN, check=False)
