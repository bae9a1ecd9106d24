"""``harness loop``: the while-true runner. Each iteration is a fresh agent session whose
only context is the repository; the pipeline is in loop_steps.py:

    recover → sync → pick/claim → session (heartbeats) → integrate + gate → release → record

The loop stops on ``--max-iterations``/``--once``, a stop file, SIGTERM/SIGINT (the running
session is stopped and its lock handed back), ``--budget-usd`` spent, or — with
``--exit-when-idle`` — when no open task is left. Nothing to claim: back off, doubling.
A rate-limited or over-quota backend: hand the task back, say so, back off exponentially.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from harness.agents import get_backend
from harness.errors import HarnessError, UpstreamUnreachable
from harness.git.publish import REMOTE_MAIN
from harness.git.repo import GitRepo
from harness.git.upstream import borrowed_upstream, read_branch
from harness.locks.snapshot import read_snapshot
from harness.loop.config import AgentSettings, LoopMode, LoopSettings
from harness.loop.context import Ctx
from harness.loop.events import IterationEvent, IterationOutcome, append_event
from harness.loop.idle import Futile
from harness.loop.session import SessionOutcome, keep_beating, run_agent
from harness.loop.shutdown import hand_back_all
from harness.loop.steps import (
    choose_mode,
    hand_back,
    hand_back_leftovers,
    has_local_work,
    integrate_and_release,
    no_open_task,
    open_tasks_left,
    pick_and_claim,
    start_from_tip,
    still_held,
    sync,
)
from harness.runtime.agentproc import resolve_user
from harness.runtime.process import signal_name
from harness.tasks.specs import TaskSpec
from harness.workspace import Workspace

Say = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class LoopOptions:
    role: str
    agent: AgentSettings
    settings: LoopSettings
    max_iterations: int | None = None
    budget_usd: float | None = None
    exit_when_idle: bool = False
    log_dir: Path | None = None  # default <clone>/agent_logs
    events_path: Path | None = None  # default <log_dir>/events.jsonl
    stop_file: Path | None = None  # default <clone>/.git/harness/stop


@dataclass
class LoopSummary:
    iterations: int = 0
    outcomes: dict[IterationOutcome, int] = field(default_factory=dict)
    cost_usd: float = 0.0
    stopped_by: str = ""


WAKE_POLL_SECONDS = 0.05  # an idle loop's look at a local upstream's tip: a file read


class Stopper:
    """SIGTERM/SIGINT and the stop file both ask the loop to stop at the next safe point."""

    def __init__(self, stop_file: Path) -> None:
        self.stop_file = stop_file
        self.reason = ""

    def install(self) -> Callable[[], None]:
        """Catch SIGTERM/SIGINT; returns the function that restores the previous handlers."""

        def handler(signum: int, frame: FrameType | None) -> None:
            self.reason = signal_name(signum)

        old = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}

        def restore() -> None:
            for sig, previous in old.items():
                signal.signal(sig, previous)

        return restore

    def requested(self) -> bool:
        if not self.reason and self.stop_file.exists():
            self.reason = f"stop file {self.stop_file}"
        return bool(self.reason)

    def sleep(self, seconds: float, wake: Callable[[], bool] | None = None) -> None:
        """Up to ``seconds``; a stop request ends it early, and so does ``wake()`` turning true."""
        end = time.monotonic() + seconds
        tick = 0.2 if wake is None else WAKE_POLL_SECONDS
        while not self.requested() and time.monotonic() < end:
            if wake is not None and wake():
                return
            time.sleep(min(tick, max(0.0, end - time.monotonic())))


def tip_moved(ws: Workspace) -> Callable[[], bool] | None:
    """For a clone that reads its local upstream's tip directly (upstreamref.py): whether
    main has moved since our last sync, so an idle loop claims the moment a task is handed
    back or unblocked instead of sleeping out its backoff. None for other clones: polling a
    remote would cost the upstream a fetch per tick."""
    upstream = borrowed_upstream(ws.repo)  # found once: each look is then one file read
    if upstream is None:
        return None
    seen, branch = ws.repo.rev_parse(REMOTE_MAIN), ws.config.branch
    return lambda: read_branch(upstream, branch) not in (None, seen)


def run_loop(ws: Workspace, options: LoopOptions, say: Say) -> LoopSummary:
    stopper = Stopper(options.stop_file or ws.state_dir / "stop")
    restore = stopper.install()
    try:
        return _run(ws, options, stopper, say)
    finally:
        restore()


def _run(ws: Workspace, options: LoopOptions, stopper: Stopper, say: Say) -> LoopSummary:
    log_dir = options.log_dir or ws.root / "agent_logs"
    events = options.events_path or log_dir / "events.jsonl"
    user = resolve_user(options.settings.session_user)
    if user is not None:
        share_workspace(ws.root)
        # The agent's files in the clone are not ours: tell our git that this is fine.
        safe = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "safe.directory", "GIT_CONFIG_VALUE_0": "*"}
        ws = dataclasses.replace(ws, repo=GitRepo(ws.root, env=safe))
    _exclude_logs(ws, log_dir)
    ctx = Ctx(
        ws=ws,
        role=options.role,
        agent=options.agent,
        loop=options.settings,
        backend=get_backend(options.agent.backend),
        log_dir=log_dir,
        user=user,
        stop_requested=stopper.requested,
        say=say,
    )
    summary = LoopSummary()
    ctx.claim_ahead = lambda event: _may_claim_ahead(options, summary, event)
    say(
        f"loop: agent {ws.agent}, role {options.role}, backend {options.agent.backend}"
        f"{' (a scripted agent, not an AI)' if options.agent.backend == 'builtin' else ''}"
    )
    try:
        _iterate(ctx, options, stopper, summary, events)
    finally:
        # However the loop ends, no lock of its own stays at the tip (shutdown.py).
        why = f"the loop stopped ({summary.stopped_by or stopper.reason or 'an error'})"
        left = hand_back_all(ctx, why, options.settings.hand_back_timeout_seconds)
    if not summary.stopped_by:
        summary.stopped_by = stopper.reason or "stopped"
    say(f"loop stopped: {summary.stopped_by}; {summary.iterations} iteration(s), ${summary.cost_usd:.2f}")
    if left:
        raise HarnessError(f"could not hand back {', '.join(sorted(left))}; the next loop started here retries")
    return summary


def _iterate(ctx: Ctx, options: LoopOptions, stopper: Stopper, summary: LoopSummary, events: Path) -> None:
    """Iterations until something ends the loop (sets ``summary.stopped_by`` or a stop request)."""
    say, ws = ctx.say, ctx.ws
    idle_wait = options.settings.idle_backoff_seconds
    limit_wait = options.settings.rate_limit_backoff_seconds
    futile = Futile(options.settings)
    while not stopper.requested():
        if options.max_iterations is not None and summary.iterations >= options.max_iterations:
            summary.stopped_by = f"max iterations ({options.max_iterations})"
            break
        event = IterationEvent(
            agent=ws.agent, role=options.role, iteration=summary.iterations + 1, started_at=time.time()
        )
        try:
            outcome, drained = _iteration(ctx, event, summary.iterations + 1)
        except (UpstreamUnreachable, HarnessError) as exc:
            # The loop must run for days: an iteration that fails outside the session (upstream
            # down, a malformed spec someone pushed, a git error) is reported and retried after
            # a backoff; a lock it held is handed back by the next iteration's recover step.
            where = "upstream" if isinstance(exc, UpstreamUnreachable) else (event.task or "iteration")
            if options.max_iterations == 1:
                raise
            say(f"ERROR {where}: {exc}; retrying in {idle_wait:g} s")
            stopper.sleep(idle_wait)
            idle_wait = min(max(idle_wait * 2, 0.1), options.settings.idle_backoff_max_seconds)
            continue
        if outcome is IterationOutcome.IDLE:
            if drained and options.exit_when_idle:
                summary.stopped_by = "no open task left"
                break
            if options.max_iterations == 1:  # --once with nothing to do
                summary.stopped_by = "nothing to claim"
                break
            why = ctx.idle_why or f"nothing to claim for {options.role}"
            say(f"{why}; waiting {idle_wait:.1f} s (or until main moves)")
            stopper.sleep(idle_wait, wake=tip_moved(ctx.ws))
            idle_wait = min(max(idle_wait * 2, 0.1), options.settings.idle_backoff_max_seconds)
            continue
        idle_wait = options.settings.idle_backoff_seconds
        event.outcome = outcome
        event.duration_seconds = round(time.time() - event.started_at, 3)
        append_event(events, event)
        summary.iterations += 1
        summary.outcomes[outcome] = summary.outcomes.get(outcome, 0) + 1
        summary.cost_usd += event.cost_usd
        say(_event_line(event))
        if outcome is IterationOutcome.RATE_LIMITED:
            say(f"rate limited by {options.agent.backend}: backing off {limit_wait:g} s")
            stopper.sleep(limit_wait)
            limit_wait = min(limit_wait * 2, options.settings.rate_limit_backoff_max_seconds)
        else:
            limit_wait = options.settings.rate_limit_backoff_seconds
            last = options.max_iterations is not None and summary.iterations >= options.max_iterations
            pause = futile.after(event, ctx.session_committed)
            if pause > 0 and not last:
                say(f"iteration {event.iteration} made no commit: waiting {pause:.1f} s before the next session")
                stopper.sleep(pause)
        if options.budget_usd is not None and summary.cost_usd >= options.budget_usd:
            summary.stopped_by = f"budget spent (${summary.cost_usd:.2f} of ${options.budget_usd:.2f})"
            break


def _may_claim_ahead(options: LoopOptions, summary: LoopSummary, event: IterationEvent) -> bool:
    """Whether another iteration will follow this one (so its claim may ride with this release)."""
    if options.max_iterations is not None and summary.iterations + 1 >= options.max_iterations:
        return False
    return options.budget_usd is None or summary.cost_usd + event.cost_usd < options.budget_usd


def _iteration(ctx: Ctx, event: IterationEvent, n: int) -> tuple[IterationOutcome, bool]:
    """One pass; (IDLE, drained) when nothing could be claimed."""
    mark = _Marks(event)
    hand_back_leftovers(ctx)
    sync(ctx, event)
    snap = read_snapshot(ctx.ws.repo, ctx.ws.repo.rev_parse(REMOTE_MAIN))  # sync fetched it
    mode = choose_mode(ctx, snap)
    mark("sync")
    spec = None
    ctx.session_committed, ctx.idle_why = False, ""
    if mode is LoopMode.OPEN:
        ctx.idle_why = no_open_task(ctx, snap)
        if ctx.idle_why:
            return IterationOutcome.IDLE, open_tasks_left(ctx, snap) == 0
    if mode is LoopMode.QUEUE:
        spec, drained = pick_and_claim(ctx, event, snap)
        if spec is None:
            return IterationOutcome.IDLE, drained
        event.task = spec.id
    start_from_tip(ctx.ws)
    mark("claim")
    try:
        return _session_and_after(ctx, event, n, mode, spec)
    finally:
        mark("integrate")


class _Marks:
    """Seconds spent in each step, into ``event.steps`` (the benchmark's overhead breakdown)."""

    def __init__(self, event: IterationEvent) -> None:
        self.event = event
        self.last = time.monotonic()

    def __call__(self, step: str) -> None:
        now = time.monotonic()
        self.event.steps[step] = round(now - self.last - (self.event.session_seconds if step == "integrate" else 0), 3)
        self.last = now


def _session_and_after(
    ctx: Ctx, event: IterationEvent, n: int, mode: LoopMode, spec: TaskSpec | None
) -> tuple[IterationOutcome, bool]:
    head = ctx.ws.repo.rev_parse("HEAD")
    session = run_agent(ctx, n, mode, spec)
    ctx.session_committed = ctx.ws.repo.rev_parse("HEAD") != head
    result, usage = session.result, session.usage
    event.session_seconds = round(result.duration, 3)
    event.session_exit = result.describe()
    event.input_tokens, event.output_tokens, event.cost_usd = usage.input_tokens, usage.output_tokens, usage.cost_usd
    event.log = str(session.log)
    if spec is None:
        return _after_open_session(ctx, event, result.ok), False
    return _after_session(ctx, event, spec, n, session), False


def _after_session(
    ctx: Ctx, event: IterationEvent, spec: TaskSpec, n: int, session: SessionOutcome
) -> IterationOutcome:
    result, usage = session.result, session.usage
    if result.stopped:
        hand_back(ctx, spec.id, "the loop was stopped")
        return IterationOutcome.STOPPED
    if usage.rate_limited:
        event.error = usage.error or "rate limited"
        hand_back(ctx, spec.id, "rate limited")
        return IterationOutcome.RATE_LIMITED
    if not result.ok:
        event.error = f"session {result.describe()}" + (f": {usage.error}" if usage.error else "")
        ctx.say(f"ERROR {spec.id}: session {result.describe()}; handing the task back (log {session.log})")
        hand_back(ctx, spec.id, event.error)
        if result.timed_out:
            return IterationOutcome.TIMEOUT
        return IterationOutcome.KILLED if result.signal else IterationOutcome.FAILED
    if not still_held(ctx, spec.id):
        return IterationOutcome.RELEASED_BY_AGENT
    if not has_local_work(ctx.ws):
        hand_back(ctx, spec.id, "the session made no commits")
        # Claiming it again at once would spin (two pushes a second, measured) on a task this
        # agent cannot move; other agents may, and this loop goes on to other tasks.
        ctx.skip.add(spec.id)
        ctx.say(f"{spec.id}: the session made no commits; this loop leaves it to others")
        return IterationOutcome.NO_CHANGE
    try:
        with keep_beating(ctx):  # the gate may take minutes: the hold stays visibly alive
            return integrate_and_release(ctx, spec, n, event)
    except HarnessError as exc:
        event.error = str(exc)
        ctx.say(f"ERROR {spec.id}: {exc}")
        hand_back(ctx, spec.id, str(exc))
        return IterationOutcome.ERROR


def _after_open_session(ctx: Ctx, event: IterationEvent, ok: bool) -> IterationOutcome:
    """Open mode: the agent claimed and released itself; hand back whatever it left held."""
    left = hand_back_leftovers(ctx)
    if left:
        event.task = left[0]
        ctx.say(f"ERROR {', '.join(left)}: the session left its lock held; handed back")
        return IterationOutcome.NO_CHANGE if ok else IterationOutcome.FAILED
    return IterationOutcome.RELEASED_BY_AGENT if ok else IterationOutcome.FAILED


def _event_line(event: IterationEvent) -> str:
    cost = f", ${event.cost_usd:.4f}" if event.cost_usd else ""
    pushed = f", {event.commits_pushed} commit(s) pushed" if event.commits_pushed else ""
    return (
        f"iteration {event.iteration}: {event.task or '-'} → {event.outcome or '?'} "
        f"({event.session_exit}, {event.duration_seconds:.1f} s{cost}{pushed})"
    )


def share_workspace(root: Path) -> None:
    """Sessions run as another user: make the clone theirs to write, and keep it so."""
    os.umask(0)
    for parent in root.resolve().parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            raise HarnessError(
                f"{parent}: other users cannot enter it, so the session user cannot reach "
                f"{root}; chmod o+x {parent} or put the clone elsewhere"
            )
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o666 | (0o111 if path.is_dir() else 0))
    root.chmod(root.stat().st_mode | 0o777)


def _exclude_logs(ws: Workspace, log_dir: Path) -> None:
    """Logs inside the clone must never be committed by an agent's `git add -A`."""
    try:
        rel = log_dir.resolve().relative_to(ws.root.resolve())
    except ValueError:
        return
    exclude = ws.root / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    lines = exclude.read_text().splitlines() if exclude.exists() else []
    if f"/{rel}/" not in lines:
        exclude.write_text("\n".join([*lines, f"/{rel}/"]) + "\n")
