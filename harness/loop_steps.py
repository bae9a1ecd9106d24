"""The steps of one loop iteration, each small and named: sync, recover, pick/claim,
session, integrate, hand back. ``loop.py`` strings them together and records the result.

Every step that touches a lock ends with the lock released or handed back, whatever the
session did (invariant 7), and every commit the agent made is pushed or parked (invariant 6).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness import records, retry
from harness.agents.base import Backend, SessionContext, Usage
from harness.errors import Fenced, GateRefused, HarnessError, LockHeld, NotClaimable, UpstreamUnreachable
from harness.integrate import Verdict, park, rebase_in_progress, rebase_onto_upstream
from harness.locks import claim, heartbeat
from harness.loop_config import AgentSettings, LoopSettings
from harness.loop_events import IterationEvent
from harness.prompt import PromptInput, render, write_prompt
from harness.publish import REMOTE_MAIN, fetch_main
from harness.release import Outcome, release
from harness.session import SessionResult, SessionSpec, SessionUser, run_session
from harness.snapshot import Snapshot, read_snapshot
from harness.tasks import TaskSpec, claimable
from harness.workspace import Workspace

CLAIM_ATTEMPTS = 6  # candidates tried per iteration before backing off
INTEGRATE_DEADLINE_SECONDS = 600.0  # keep retrying lost push races this long before parking the work


@dataclass
class Ctx:
    ws: Workspace
    role: str
    agent: AgentSettings
    loop: LoopSettings
    backend: Backend
    log_dir: Path
    user: SessionUser | None
    stop_requested: Callable[[], bool]
    say: Callable[[str], None]
    # Tasks whose push the gate refused in this run: left for other agents (fresh eyes)
    # instead of being retried here forever.
    skip: set[str] = field(default_factory=set)
    reported: set[str] = field(default_factory=set)  # malformed specs already reported


# -- sync and recovery -----------------------------------------------------------


def sync(ctx: Ctx, event: IterationEvent) -> None:
    """Fetch; park anything left in the clone (``start_from_tip`` resets it later)."""
    ws = ctx.ws
    # HEAD at the tip we last knew: nothing of ours can be unpushed (checked before the
    # fetch moves origin/main away from it; counting afterwards needs a rev-list).
    head = ws.repo.rev_parse("HEAD")
    at_known_tip = head is not None and head == ws.repo.rev_parse(REMOTE_MAIN)
    fetch_main(ws.repo, ws.config.branch)
    if rebase_in_progress(ws):
        ws.repo.run("rebase", "--abort", check=False)
        at_known_tip = False
    if ws.repo.out("status", "--porcelain", "--untracked-files=all"):
        ws.repo.run("add", "-A")
        ws.repo.run(
            "commit", "--quiet", "--no-verify", "-m", "wip: left uncommitted by an earlier session", env=_identity(ws)
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
    """Locks this clone still holds from an earlier iteration or a killed loop: hand back."""
    returned = []
    for record in records.all_records(ctx.ws.state_dir):
        returned.append(record.task)
        hand_back(ctx, record.task, "left held by an earlier iteration")
    return returned


# -- pick and claim --------------------------------------------------------------


def choose_mode(ctx: Ctx, snap: Snapshot) -> str:
    if ctx.loop.mode != "auto":
        return ctx.loop.mode
    return "queue" if snap.specs or snap.spec_problems else "open"


def pick_and_claim(ctx: Ctx, event: IterationEvent) -> tuple[TaskSpec | None, bool]:
    """Claim the scheduler's choice; (spec, drained). Lost races move on to the next candidate."""
    ws = ctx.ws
    for attempt in range(CLAIM_ATTEMPTS):
        # sync just fetched: the first look, and the claim on it, need no second fetch.
        tip = ws.repo.rev_parse(REMOTE_MAIN) if attempt == 0 else fetch_main(ws.repo, ws.config.branch)
        snap = read_snapshot(ws.repo, tip)
        for problem in snap.spec_problems.values():
            if problem not in ctx.reported:  # once per loop run: the file stays broken until fixed
                ctx.reported.add(problem)
                ctx.say(f"ERROR {problem}")
        ranked = [spec for spec in claimable(snap.board(), ctx.role) if spec.id not in ctx.skip]
        if not ranked:
            open_left = [
                s for s in snap.specs.values() if not s.done and s.role in (None, ctx.role) and s.id not in ctx.skip
            ]
            return None, not open_left
        spec = spread(ranked, ws.agent, attempt)
        try:
            claim(ws, spec.id, role=ctx.role, lease_seconds=None, tip=tip)
        except (LockHeld, NotClaimable):
            event.claims_lost += 1
            continue
        return spec, False
    return None, False


def spread(ranked: list[TaskSpec], agent: str, attempt: int = 0) -> TaskSpec:
    """Among the best few candidates, a stable per-agent choice: N agents asking at once do
    not all race for the single top task (measured: that costs one lost claim per agent).
    A lost race moves the choice (``attempt``), so two agents that collided once do not keep
    colliding on the same pick."""
    top = ranked[: min(len(ranked), 8)]
    index = int(hashlib.sha1(f"{agent}/{attempt}".encode()).hexdigest(), 16) % len(top)
    return top[index]


# -- the session -----------------------------------------------------------------


@dataclass(frozen=True)
class SessionOutcome:
    result: SessionResult
    usage: Usage
    log: Path


def run_agent(
    ctx: Ctx, iteration: int, mode: str, spec: TaskSpec | None, kind: str = "work", conflicts: list[str] | None = None
) -> SessionOutcome:
    ws = ctx.ws
    task_id = spec.id if spec else None
    text = render(ws, PromptInput(ctx.role, iteration, mode, spec, task_id))
    if kind == "resolve":
        text = _resolve_prompt(task_id, conflicts or []) + text
    prompt = write_prompt(ws.state_dir / "prompt.md", text)
    sctx = SessionContext(
        ws.root,
        prompt,
        ws.agent,
        ctx.role,
        task_id,
        kind,
        ctx.agent.model,
        ctx.agent.command,
        ctx.agent.args,
        spec.title if spec else "",
        spec.body if spec else "",
    )
    invocation = ctx.backend.invocation(sctx)
    log = session_log_path(ctx.log_dir, (ws.repo.rev_parse("HEAD") or "unborn")[:7])
    header = (
        f"# harness {kind} session: agent {ws.agent} role {ctx.role} task {task_id or '-'} "
        f"iteration {iteration}\n# argv: {invocation.argv}\n"
    )
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(header)
    offset = log.stat().st_size
    env = _session_env(ctx, task_id, kind, iteration, prompt, invocation.env)
    spec_run = SessionSpec(
        invocation.argv,
        ws.root,
        env,
        log,
        ctx.loop.session_timeout_seconds,
        invocation.stdin_file,
        ctx.user,
        ctx.loop.kill_grace_seconds,
    )
    result = run_session(spec_run, _ticker(ctx, task_id is not None))
    output = _read_from(log, offset)
    usage = ctx.backend.usage(output, result.returncode)
    return SessionOutcome(result, usage, log)


def session_log_path(log_dir: Path, short_sha: str) -> Path:
    """``agent_logs/agent_<short-sha>.log``; a second session on the same commit gets ``-2``…"""
    path = log_dir / f"agent_{short_sha}.log"
    n = 2
    while path.exists():
        path = log_dir / f"agent_{short_sha}-{n}.log"
        n += 1
    return path


def _ticker(ctx: Ctx, holding: bool) -> Callable[[], bool]:
    every = max(1.0, float(ctx.ws.config.locks.heartbeat_seconds))
    state = {"next": time.monotonic() + every}

    def tick() -> bool:
        if holding and time.monotonic() >= state["next"]:
            state["next"] = time.monotonic() + every
            try:
                heartbeat(ctx.ws)
            except HarnessError as exc:  # a missed beat is not worth stopping the session for
                ctx.say(f"warning: heartbeat failed: {exc}")
        return ctx.stop_requested()

    return tick


def _session_env(
    ctx: Ctx, task: str | None, kind: str, iteration: int, prompt: Path, extra: dict[str, str]
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(_identity(ctx.ws))  # the agent's commits carry its id, whatever HOME it gets
    bin_dir = str(Path(sys.executable).parent)  # where `harness` itself is installed
    env.update(
        {
            "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
            "HARNESS_AGENT": ctx.ws.agent,
            "HARNESS_ROLE": ctx.role,
            "HARNESS_TASK": task or "",
            "HARNESS_SESSION_KIND": kind,
            "HARNESS_ITERATION": str(iteration),
            "HARNESS_PROMPT_FILE": str(prompt),
        }
    )
    if ctx.user is not None:
        home = ctx.user.home if ctx.user.home and ctx.user.home.is_dir() else ctx.ws.state_dir / "agent-home"
        home.mkdir(mode=0o777, parents=True, exist_ok=True)
        # The clone belongs to the loop's user; let the agent's git work in it anyway.
        env.update(
            {
                "HOME": str(home),
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "safe.directory",
                "GIT_CONFIG_VALUE_0": "*",
            }
        )
    env.update(extra)
    return env


def _resolve_prompt(task: str | None, files: list[str]) -> str:
    return (
        f"# Resolve a conflict (task {task})\n\nA rebase of your commits onto upstream main stopped: both sides "
        f"changed the same lines in {', '.join(files)}. Edit those files so they keep both intents, remove "
        "every conflict marker and `git add` them. Do not commit, push or abort: the loop continues the "
        "rebase. Exit non-zero if you cannot; your commits are then kept on a side ref.\n\n"
    )


def _read_from(path: Path, offset: int) -> str:
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read().decode(errors="replace")


# -- after the session -----------------------------------------------------------


def integrate_and_release(ctx: Ctx, spec: TaskSpec, iteration: int, event: IterationEvent) -> str:
    """Rebase by conflict class, gate, release done with the work. Returns the outcome.

    A push that loses a race (upstream moved under the release, or the upstream's gate saw
    main move while it tested us) is retried under the push-race policy: contention is not
    a reason to park independent work.
    """
    # Without a gate the common case (no conflict) goes straight to the release, which
    # rebases and pushes by itself: one fetch and one rebase less inside the race window.
    # Our own rebase by conflict class runs first when the gate must judge rebased commits,
    # and after the release reported a conflict.
    state = {"rebase": gate_configured(ctx)}
    try:
        return retry.run(
            retry.push_race(INTEGRATE_DEADLINE_SECONDS), lambda: _integrate_once(ctx, spec, iteration, event, state)
        )
    except retry.PushRaceLost:
        ref = park(ctx.ws, spec.id)
        ctx.say(f"ERROR {spec.id}: upstream kept moving under the release; work kept on {ref}")
        _drop_local_work(ctx.ws)
        hand_back(ctx, spec.id, "could not integrate")
        return "parked"


def _integrate_once(ctx: Ctx, spec: TaskSpec, iteration: int, event: IterationEvent, state: dict[str, bool]) -> str:
    ws = ctx.ws
    if state["rebase"]:
        outcome = _rebase_by_class(ctx, spec, iteration, event)
        if outcome:
            return outcome
    try:
        gate(ctx)
        released = release(ws, spec.id, Outcome.DONE, note=f"iteration {iteration}")
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
        hand_back(ctx, spec.id, "push refused")
        return "refused"
    except Fenced as exc:
        ctx.say(f"ERROR {spec.id}: {exc}")
        event.error = str(exc)
        return "fenced"
    except (LockHeld, NotClaimable, UpstreamUnreachable):
        raise
    except HarnessError as exc:
        if "conflict" not in str(exc):
            raise
        state["rebase"] = True
        # Upstream moved with a conflicting change between our rebase and the release's push.
        raise retry.PushRaceLost("a conflicting change landed under the release") from exc
    event.commits_pushed = released.work_commits
    return "done"


def _rebase_by_class(ctx: Ctx, spec: TaskSpec, iteration: int, event: IterationEvent) -> str:
    """Rebase onto a fresh tip by conflict class; "" when clean, else the outcome (handed back)."""
    ws = ctx.ws
    fetch_main(ws.repo, ws.config.branch)

    def resolver(files: list[str]) -> bool:
        return run_agent(ctx, iteration, "queue", spec, kind="resolve", conflicts=files).result.ok

    result = rebase_onto_upstream(ws, spec.id, resolver, ctx.loop.regenerate, ctx.loop.resolution_sessions)
    event.conflicts_resolved += result.resolved
    if result.verdict is Verdict.CLEAN:
        return ""
    ctx.say(f"ERROR {spec.id}: {result.error}")
    event.error = result.error
    _drop_local_work(ws)
    hand_back(ctx, spec.id, result.error)
    return str(result.verdict.value)


def gate_configured(ctx: Ctx) -> bool:
    return bool(ctx.ws.config.raw.get("tests")) and importlib.util.find_spec("harness.gate") is not None


def gate(ctx: Ctx) -> None:
    """The pre-push gate, when harness.gate exists and harness.yaml configures tests."""
    if not gate_configured(ctx):
        return
    module = importlib.import_module("harness.gate")
    pre_push: Callable[[Workspace], object] | None = getattr(module, "pre_push", None)
    if pre_push is not None:
        pre_push(ctx.ws)


def hand_back(ctx: Ctx, task: str, why: str) -> None:
    """Park local commits on a fresh side ref, then release as abandoned; never raises."""
    try:
        ref = park(ctx.ws, task)
        if ref:
            ctx.say(f"ERROR {task}: handed back ({why}); commits kept on {ref}")
            _drop_local_work(ctx.ws)
        release(ctx.ws, task, Outcome.ABANDONED, note=why[:200])
    except Fenced as exc:
        ctx.say(f"ERROR {task}: {exc}")
        records.drop_record(ctx.ws.state_dir, task)
    except HarnessError as exc:
        ctx.say(f"ERROR {task}: could not hand the lock back ({exc}); the next iteration retries")


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


def _identity(ws: Workspace) -> dict[str, str]:
    from harness.gitops import identity_env

    return identity_env(ws.agent)
