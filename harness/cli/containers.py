"""``harness image base|build``, ``harness plan``, ``harness peer`` and the fleet watcher.

``harness up/down/ps/logs`` live in cli_fleet.py and reach the Docker runtime through
``harness.runtime.docker.DockerRuntime``; these are the Docker-specific extras.
"""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.common import emit_json


@click.group()
def image() -> None:
    """Build the agent image without any image registry."""


@image.command("base")
@click.option("--tag", default="harness-base:bookworm", show_default=True, help="name of the base image")
@click.option("--suite", default="bookworm", show_default=True, help="Debian release to debootstrap")
@click.option("--mirror", default=None, help="Debian archive URL (default: the one apt uses here)")
def image_base(tag: str, suite: str, mirror: str | None) -> None:
    """Make a Debian base image with debootstrap + docker import (needs root; ~1-2 minutes)."""
    from harness.runtime.image import build_base

    image_id = build_base(tag, suite, mirror)
    click.echo(f"base image {tag} ({image_id[:19]})")


@image.command("build")
@click.option("--tag", default="harness-agent:latest", show_default=True, help="name of the agent image")
@click.option("--base", default="harness-base:bookworm", show_default=True, help="local image to build FROM")
@click.option(
    "--agent-cli", "agent_clis", multiple=True, help="install an agent CLI (claude, codex, gemini); needs network"
)
@click.option(
    "--wheels",
    "wheel_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="use these wheels (harness + deps) instead of fetching them on this host",
)
def image_build(tag: str, base: str, agent_clis: tuple[str, ...], wheel_dir: Path | None) -> None:
    """Build the agent image (docker/Dockerfile) with harness installed from host-built wheels."""
    from harness.runtime.image import build

    result = build(tag, base, agent_clis, wheel_dir)
    click.echo(f"built {result.tag} from {base} with {len(result.wheels)} wheel(s)")


@click.command()
@click.option("--memory", default="2g", show_default=True, help="memory limit per agent")
@click.option("--cpus", type=float, default=1.0, show_default=True, help="CPU limit per agent")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def plan(memory: str, cpus: float, as_json: bool) -> None:
    """How many agents of a given size fit this machine (the Docker engine's host if one answers)."""
    from dataclasses import asdict

    from harness.errors import HarnessError
    from harness.runtime.capacity import local_host, parse_size, plan_lines
    from harness.runtime.capacity import plan as make_plan

    size = parse_size(memory)
    try:
        from harness.runtime.docker import connect, engine_host

        host = engine_host(connect())
    except HarnessError:
        host = local_host()
    result = make_plan(host, size, cpus)
    if as_json:
        emit_json({**asdict(result), "fits": result.fits, "usable_memory": host.usable_memory})
        return
    for line in plan_lines(result):
        click.echo(line)


@click.command("fleet-watch", hidden=True)
@click.argument("fleet")
@click.option("--interval", type=float, default=2.0)
def fleet_watch(fleet: str, interval: float) -> None:
    """(internal) Hand back the locks of agents whose container is gone, until the fleet is down."""
    from harness.runtime.docker import DockerRuntime

    DockerRuntime().watch(fleet, interval, log=lambda line: click.echo(line))


@click.command()
@click.argument("source")
@click.option("--into", "target", required=True, help="the agent (or directory) that receives the copy")
@click.option("--name", "--fleet", "fleet", default="harness", show_default=True, help="the fleet of both agents")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def peer(source: str, target: str, fleet: str, as_json: bool) -> None:
    """Copy a read-only, filtered snapshot of SOURCE's workspace into .shared/SOURCE/ of --into.

    SOURCE and --into are agent ids of a Docker fleet, or two directories (local clones).
    Symlinks, .git, secrets (.env*, .netrc, .npmrc, .pypirc, credentials, keys) and tool
    config dirs are never copied.
    """
    from dataclasses import asdict

    from harness.runtime.peer import peer_directories

    source_dir, target_dir = Path(source), Path(target)
    if source_dir.is_dir() and target_dir.is_dir():
        result = peer_directories(source_dir, target_dir, source_dir.resolve().name)
    else:
        from harness.runtime.docker import DockerRuntime

        result = DockerRuntime().peer(fleet, source, target)
    if as_json:
        emit_json(asdict(result))
        return
    click.echo(f"copied {result.files} file(s), {result.bytes} bytes of {result.source} into {target}/.shared/")
    if result.skipped:
        click.echo(f"left out {len(result.skipped)}: " + "; ".join(result.skipped[:5]))
