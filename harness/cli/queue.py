"""``harness queue run | status``: the merge queue's runner and its state (docs/queue.md)."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType

import click

from harness.cli.common import common, emit_json, workspace


@click.group()
def queue() -> None:
    """The merge queue: submissions tested in batches, landed in one swap of main."""


def _upstream(repo: Path, agent: str | None, upstream: Path | None) -> Path:
    from harness.errors import UsageError
    from harness.git.upstream import local_upstream_path

    if upstream is not None:
        return upstream.resolve()
    found = local_upstream_path(workspace(repo, agent).repo)
    if found is None:
        raise UsageError("origin is not a local path; run the queue where the upstream lives, or pass --upstream PATH")
    return found


@queue.command("run")
@click.option("--upstream", type=click.Path(file_okay=False, path_type=Path), help="bare upstream (default: origin)")
@click.option("--wait", is_flag=True, help="if another runner serves this upstream, wait to take over")
@click.option("--until-empty", is_flag=True, help="exit once nothing is queued or under test")
@common
def run(upstream: Path | None, wait: bool, until_empty: bool, repo: Path, agent: str | None) -> None:
    """Serve the upstream's merge queue until stopped (SIGTERM or ^C)."""
    from harness.queue.runner import Runner, exclusive
    from harness.queue.settings import settings_at_tip

    target = _upstream(repo, agent, upstream)
    config = settings_at_tip(target)
    stopping: list[int] = []

    def stop_on(signum: int, _: FrameType | None) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop_on)
    signal.signal(signal.SIGINT, stop_on)
    with exclusive(target, wait):
        limits = f"batches of up to {config.queue.batch_size}, {config.queue.runs_at_once()} run(s) at once"
        click.echo(f"queue: serving {target} ({limits})")
        runner = Runner(target, config.queue, lambda line: click.echo(line), branch=config.branch)
        runner.serve(lambda: bool(stopping), until_empty=until_empty)
    click.echo("queue: stopped")


@queue.command("status")
@click.option("--upstream", type=click.Path(file_okay=False, path_type=Path), help="bare upstream (default: origin)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@common
def status(upstream: Path | None, as_json: bool, repo: Path, agent: str | None) -> None:
    """Queued, testing, landed, refused and blocked submissions, with ages."""
    from harness.queue.status import queue_report, report_lines

    report = queue_report(_upstream(repo, agent, upstream))
    if as_json:
        emit_json(report.to_json())
        return
    for line in report_lines(report):
        click.echo(line)
