"""The session step of a loop iteration: render the prompt, run the agent's CLI as a
child it cannot use against the loop (session.py), heartbeat while it runs, read its usage."""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.agents.base import SessionContext, Usage, priced
from harness.errors import HarnessError
from harness.git.repo import GitRepo, identity_env
from harness.locks.claim import heartbeat
from harness.loop.config import LoopMode
from harness.loop.context import Ctx
from harness.loop.prompt import PromptInput, render, write_prompt
from harness.runtime.agentproc import SessionResult, SessionSpec, run_session
from harness.runtime.process import child_env
from harness.tasks.specs import TaskSpec


@dataclass(frozen=True)
class SessionOutcome:
    result: SessionResult
    usage: Usage
    log: Path


def run_agent(
    ctx: Ctx,
    iteration: int,
    mode: LoopMode,
    spec: TaskSpec | None,
    kind: str = "work",
    conflicts: list[str] | None = None,
) -> SessionOutcome:
    ws = ctx.ws
    task_id = spec.id if spec else None
    text = render(ws, PromptInput(role=ctx.role, iteration=iteration, mode=mode, task=spec, task_id=task_id))
    if kind == "resolve":
        text = _resolve_prompt(task_id, conflicts or []) + text
    prompt = write_prompt(ws.state_dir / "prompt.md", text)
    sctx = SessionContext(
        workspace=ws.root,
        prompt_file=prompt,
        agent=ws.agent,
        role=ctx.role,
        task=task_id,
        kind=kind,
        model=ctx.agent.model,
        command=ctx.agent.command,
        extra_args=ctx.agent.args,
        task_title=spec.title if spec else "",
        task_body=spec.body if spec else "",
        base_url=ctx.agent.base_url,
        session_uid=ctx.user.uid if ctx.user is not None else os.geteuid(),
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
        argv=invocation.argv,
        cwd=ws.root,
        env=env,
        log_path=log,
        timeout=ctx.loop.session_timeout_seconds,
        stdin_file=invocation.stdin_file,
        user=ctx.user,
        kill_grace=ctx.loop.kill_grace_seconds,
    )
    result = run_session(spec_run, _ticker(ctx, task_id is not None))
    output = _read_from(log, offset)
    usage = priced(ctx.backend.usage(output, result.returncode), ctx.agent.usd_per_mtok)
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


@contextmanager
def keep_beating(ctx: Ctx) -> Iterator[None]:
    """Heartbeats while the loop itself works for a held task after its session (the gate's
    tests, the wait for the upstream's gate): every ``heartbeat_seconds``, from a thread with
    its own view of the clone (a GitRepo keeps a reader process that is not shared across
    threads), so ``harness status`` never shows a live hold as silent."""
    every = max(1.0, float(ctx.ws.config.locks.heartbeat_seconds))
    done = threading.Event()
    safe = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "safe.directory", "GIT_CONFIG_VALUE_0": "*"}
    ws = dataclasses.replace(ctx.ws, repo=GitRepo(ctx.ws.root, env=safe if ctx.user else None))

    def beat() -> None:
        while not done.wait(every):
            try:
                heartbeat(ws)
            except HarnessError as exc:
                ctx.say(f"warning: heartbeat failed: {exc}")

    thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _session_env(
    ctx: Ctx, task: str | None, kind: str, iteration: int, prompt: Path, extra: dict[str, str]
) -> dict[str, str]:
    env = child_env()
    env.update(identity_env(ctx.ws.agent))  # the agent's commits carry its id, whatever HOME it gets
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
