"""``harness loop --role R``: run the while-true agent loop in this clone."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import click

from harness.cli.common import common, workspace
from harness.errors import UsageError
from harness.loop.config import BACKENDS, MODES, LoopMode


class Number(click.ParamType[float, object]):
    """A finite number >= 0 (> 0 with ``positive``): ``nan``, ``inf`` and negatives are usage errors."""

    name = "number"

    def __init__(self, positive: bool = False) -> None:
        self.positive = positive

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        bound = "> 0" if self.positive else ">= 0"
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            self.fail(f"expected a number {bound}, got {value!r}", param, ctx)
        if not math.isfinite(number) or number < 0 or (self.positive and number == 0):
            self.fail(f"expected a finite number {bound}, got {value!r}", param, ctx)
        return number


@click.command()
@click.option("--role", required=True, help="the role this agent plays (prompts/<role>.md)")
@click.option("--backend", type=click.Choice(BACKENDS), default=None, help="agent backend (default: agent.backend)")
@click.option("--agent-cmd", default=None, help="command backend template, e.g. 'my-agent {prompt_file}'")
@click.option("--model", default=None, help="model name passed to the backend")
@click.option("--mode", type=click.Choice(MODES), default=None, help="queue: the loop claims; open: the agent does")
@click.option("--max-iterations", type=click.IntRange(min=1), default=None, help="stop after N sessions")
@click.option("--once", is_flag=True, help="one iteration (same as --max-iterations 1)")
@click.option("--session-timeout", type=Number(positive=True), default=None, help="seconds before a session is killed")
@click.option("--budget-usd", type=Number(), default=None, help="stop when the sessions' reported cost reaches this")
@click.option("--exit-when-idle", is_flag=True, help="exit when no open task is left (instead of waiting)")
@click.option("--idle-backoff", type=Number(), default=None, help="first wait when nothing is claimable (seconds)")
@click.option("--log-dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="session logs")
@click.option("--events", type=click.Path(dir_okay=False, path_type=Path), default=None, help="events JSONL file")
@click.option(
    "--session-user", envvar="HARNESS_SESSION_USER", default=None, help="run sessions as this user (loop as root)"
)
@click.option("--stop-file", type=click.Path(dir_okay=False, path_type=Path), default=None, help="stop when it exists")
@common
def loop(
    role: str,
    backend: str | None,
    agent_cmd: str | None,
    model: str | None,
    mode: str | None,
    max_iterations: int | None,
    once: bool,
    session_timeout: float | None,
    budget_usd: float | None,
    exit_when_idle: bool,
    idle_backoff: float | None,
    log_dir: Path | None,
    events: Path | None,
    session_user: str | None,
    stop_file: Path | None,
    repo: Path,
    agent: str | None,
) -> None:
    """Run fresh agent sessions forever: claim, session, integrate, release, record."""
    from harness.config import known_roles
    from harness.loop.config import read_agent_settings, read_loop_settings
    from harness.loop.runner import LoopOptions, run_loop

    if agent_cmd is not None and backend not in (None, "command"):
        # Silently running another backend would ignore the command the user gave.
        raise UsageError(f"--agent-cmd runs the command backend; drop --backend {backend} or pass --backend command")
    ws = workspace(repo, agent)
    known = known_roles(ws.config, ws.root / "prompts")
    if role not in known:
        raise UsageError(
            f"--role {role!r}: unknown role; use one of {', '.join(sorted(known))} "
            "(or add it under roles: in harness.yaml)"
        )
    agent_settings = read_agent_settings(ws.config)
    if agent_cmd is not None:
        agent_settings = dataclasses.replace(agent_settings, backend=backend or "command", command=agent_cmd)
    if backend is not None:
        agent_settings = dataclasses.replace(agent_settings, backend=backend)
    if model is not None:
        agent_settings = dataclasses.replace(agent_settings, model=model)
    settings = read_loop_settings(ws.config)
    overrides: dict[str, object] = {}
    if mode is not None:
        overrides["mode"] = LoopMode(mode)
    if session_timeout is not None:
        overrides["session_timeout_seconds"] = session_timeout
    if session_user is not None:
        overrides["session_user"] = session_user
    if idle_backoff is not None:
        overrides["idle_backoff_seconds"] = idle_backoff
    settings = dataclasses.replace(settings, **overrides)  # type: ignore[arg-type]
    options = LoopOptions(
        role=role,
        agent=agent_settings,
        settings=settings,
        max_iterations=1 if once else max_iterations,
        budget_usd=budget_usd,
        exit_when_idle=exit_when_idle,
        log_dir=log_dir,
        events_path=events,
        stop_file=stop_file,
    )
    run_loop(ws, options, lambda line: click.echo(line, err=line.startswith("ERROR")))
