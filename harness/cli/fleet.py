"""``harness up/down/ps/logs`` (``--runtime local|docker``) and ``harness demo``."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from harness.cli.common import emit_json
from harness.errors import HarnessError
from harness.loop.config import BACKENDS
from harness.runtime.fleetrecord import RUNTIMES


def _runtime(name: str, image: str | None = None, verify: Path | None = None, directory: Path | None = None) -> Any:
    if name == "docker":
        from dataclasses import replace

        from harness.runtime.docker import DockerRuntime, options_from_env  # lazy: only this path imports docker

        options = options_from_env()
        options = replace(options, image=image or options.image, verify=verify or options.verify)
        return DockerRuntime(options)
    from harness.runtime.local import LocalRuntime

    return LocalRuntime(directory=directory)


def _print_agents(infos: list[Any], as_json: bool) -> None:
    if as_json:
        emit_json([asdict(i) for i in infos])
        return
    from harness.history.textfmt import human_age

    click.echo(f"{'AGENT':16} {'ROLE':10} {'STATE':8} {'ITER':>4} {'UP':>6}  {'TASK':24} HANDLE")
    for info in infos:
        iteration = "-" if info.iteration is None else str(info.iteration)
        click.echo(
            f"{info.agent:16} {info.role:10} {info.state:8} {iteration:>4} "
            f"{human_age(info.uptime_seconds):>6}  {info.task or '-':24} {info.handle}"
        )


def _upstream_of(repo: Path) -> Path:
    from harness.git.repo import GitRepo
    from harness.git.upstream import local_upstream_path

    upstream = local_upstream_path(GitRepo(repo))
    if upstream is None:
        from harness.errors import UsageError

        raise UsageError(
            f"{repo}: origin is not a bare repository on this machine; pass --upstream PATH (the bare upstream)"
        )
    return upstream


def find_fleet(repo: Path, upstream: Path | None, name: str | None, runtime: str | None) -> tuple[Any, str]:
    """The runtime and the name of the fleet these options mean: the fleet recorded with the
    work repo's upstream (runtime/fleetrecord.py), unless --name/--runtime say otherwise."""
    from harness.errors import HarnessError, UsageError
    from harness.runtime.fleetrecord import load_record

    try:
        upstream = upstream or _upstream_of(repo)
    except HarnessError:
        if name is None:
            raise UsageError(
                f"{repo.resolve()}: not a clone of a work repo; run in one, or pass --repo CLONE or --name FLEET"
            ) from None
        return _runtime(runtime or "local"), name  # a fleet named outright, on a remote upstream
    record = load_record(upstream)
    if record is None and name is None:
        raise HarnessError(f"no fleet recorded for {upstream}; start one with `harness up --roles core-dev=2`")
    if record is None or (name is not None and name != record.name):
        return _runtime(runtime or "local"), str(name)
    directory = Path(record.fleet_dir) if record.fleet_dir and (runtime or record.runtime) == "local" else None
    return _runtime(runtime or record.runtime, directory=directory), record.name


def _backend(upstream: Path, flag: str | None) -> tuple[str, str]:
    """(backend, where it came from): --backend, else agent.backend of upstream main's harness.yaml."""
    if flag is not None:
        return flag, "--backend"
    from harness.config import CONFIG_NAME
    from harness.runtime.fleetstate import configured_backend, upstream_config

    configured = "agent" in upstream_config(upstream).raw
    return configured_backend(upstream), f"agent.backend in {CONFIG_NAME}" if configured else "the default"


def _refuse_second_fleet(upstream: Path) -> None:
    from harness.errors import HarnessError
    from harness.runtime.fleetrecord import load_record

    record = load_record(upstream)
    if record is None:
        return
    try:
        runtime, name = find_fleet(upstream, upstream, None, None)
        running = [i.agent for i in runtime.ps(name) if i.state == "running"]
    except HarnessError:
        return  # its state is gone: nothing of it runs
    if running:
        raise HarnessError(
            f"fleet {name} ({record.runtime}) already runs {len(running)} agent(s) on {upstream}; `harness down` first"
        )


fleet_name = click.option("--name", "fleet", default=None, help="fleet name (default: the one recorded for the repo)")
runtime_opt = click.option("--runtime", type=click.Choice(RUNTIMES), default=None, help="default: the fleet's")
upstream_opt = click.option(
    "--upstream", type=click.Path(path_type=Path), default=None, help="bare upstream (default: origin)"
)
repo_opt = click.option(
    "--repo", type=click.Path(file_okay=False, path_type=Path), default=".", help="a clone of the upstream"
)


@click.command()
@click.option("--roles", required=True, help="agents per role, e.g. core-dev=3,docs=1")
@click.option("--backend", type=click.Choice(BACKENDS), default=None, help="agent backend (default: agent.backend)")
@upstream_opt
@repo_opt
@click.option("--fleet-dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="local: clones/logs")
@click.option("--loop-arg", multiple=True, help="extra option for every `harness loop` (repeatable)")
@click.option("--pass-env", multiple=True, help="environment variable handed to agents (docker; repeatable)")
@click.option("--memory", default=None, help="docker: memory limit per agent, e.g. 4g")
@click.option("--cpus", type=click.FloatRange(min=0.1), default=None, help="docker: CPUs per agent")
@click.option("--network", default="none", show_default=True, help="docker: none or bridge")
@click.option("--image", default=None, help="docker: agent image (default: $HARNESS_IMAGE or harness-agent:latest)")
@click.option(
    "--verify",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="docker: the verifier directory, mounted read-only at /verify",
)
@click.option("--name", "fleet", default=None, help="fleet name (default: <repo>-<hash of the upstream path>)")
@click.option("--runtime", type=click.Choice(RUNTIMES), default="local", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def up(
    roles: str,
    backend: str | None,
    upstream: Path | None,
    repo: Path,
    fleet_dir: Path | None,
    loop_arg: tuple[str, ...],
    pass_env: tuple[str, ...],
    memory: str | None,
    cpus: float | None,
    network: str,
    image: str | None,
    verify: Path | None,
    fleet: str | None,
    runtime: str,
    as_json: bool,
) -> None:
    """Start a fleet: one loop per agent, e.g. --roles core-dev=3,docs=1."""
    import time

    from harness.runtime.base import FleetSpec, parse_roles
    from harness.runtime.fleetrecord import FleetRecord, default_name, save_record

    upstream = (upstream or _upstream_of(repo)).resolve()
    parsed = parse_roles(roles)
    _refuse_second_fleet(upstream)
    chosen, source = _backend(upstream, backend)
    name = fleet or default_name(upstream)
    spec = FleetSpec(
        name=name,
        upstream=upstream,
        roles=parsed,
        backend=chosen,
        agent_args=loop_arg,
        pass_env=pass_env,
        memory=memory,
        cpus=cpus,
        network=network,
        fleet_dir=fleet_dir,
    )
    engine = _runtime(runtime, image, verify.resolve() if verify else None)
    infos = engine.up(spec)
    directory = str(engine.fleet_dir(name)) if runtime == "local" else None
    record = FleetRecord(
        name=name, runtime=runtime, upstream=str(upstream), fleet_dir=directory, backend=chosen,
        roles=dict(parsed), started_at=time.time(),
    )  # fmt: skip
    save_record(upstream, record)
    if not as_json:
        click.echo(f"fleet {name} ({runtime}): backend {chosen} ({source}); `harness top` to watch, `harness down`")
    _print_agents(infos, as_json)
    from harness.queue.service import runner_log, start_runner

    runner = start_runner(spec.upstream)
    if runner is not None and not as_json:
        click.echo(f"queue runner: pid {runner}, log {runner_log(spec.upstream)}")


def _stop_queue_runner(repo: Path, upstream: Path | None) -> None:
    """The runner `up` started for the work repo (none outside a clone)."""
    from harness.git.repo import GitRepo
    from harness.git.upstream import local_upstream_path
    from harness.queue.service import stop_runner

    try:
        upstream = upstream or local_upstream_path(GitRepo(repo))
    except HarnessError:
        return
    if upstream is not None and (pid := stop_runner(upstream)) is not None:
        click.echo(f"stopped the queue runner (pid {pid})")


@click.command()
@fleet_name
@runtime_opt
@repo_opt
@upstream_opt
@click.option("--timeout", type=float, default=30.0, show_default=True, help="seconds to wait before SIGKILL")
def down(fleet: str | None, runtime: str | None, repo: Path, upstream: Path | None, timeout: float) -> None:
    """Stop a fleet cleanly: every loop hands its lock back."""
    engine, name = find_fleet(repo, upstream, fleet, runtime)
    infos = engine.down(name, timeout)
    _stop_queue_runner(repo, upstream)
    still = [i.agent for i in infos if i.state == "running"]
    click.echo(f"stopped {len(infos) - len(still)} of {len(infos)} agent(s) of fleet {name}")
    if still:
        click.echo(f"ERROR down: still running: {', '.join(still)}", err=True)


@click.command()
@fleet_name
@runtime_opt
@repo_opt
@upstream_opt
@click.option("--json", "as_json", is_flag=True)
def ps(fleet: str | None, runtime: str | None, repo: Path, upstream: Path | None, as_json: bool) -> None:
    """The fleet's agents: state, iteration, current task."""
    engine, name = find_fleet(repo, upstream, fleet, runtime)
    _print_agents(engine.ps(name), as_json)


@click.command()
@click.argument("agent")
@fleet_name
@runtime_opt
@repo_opt
@upstream_opt
@click.option("-f", "--follow", is_flag=True, help="keep printing while the agent runs")
def logs(agent: str, fleet: str | None, runtime: str | None, repo: Path, upstream: Path | None, follow: bool) -> None:
    """The loop output of one agent."""
    engine, name = find_fleet(repo, upstream, fleet, runtime)
    for line in engine.logs(name, agent, follow):
        click.echo(line)


@click.command()
@click.option("--agents", type=click.IntRange(1, 32), default=4, show_default=True, help="builtin agents")
@click.option("--tasks", type=click.IntRange(4, 200), default=24, show_default=True, help="task specs")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="keep the demo's upstream and clones here (default: a temporary directory)",
)
@click.option("--delay", type=float, default=0.4, show_default=True, help="seconds each scripted session 'thinks'")
def demo(agents: int, tasks: int, directory: Path | None, delay: float) -> None:
    """A fleet of builtin (scripted) agents on an embedded sample project: no API key, no Docker."""
    from harness.demo.fleet import run_demo

    run_demo(agents, tasks, directory, delay, click.echo)
