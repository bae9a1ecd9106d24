"""``harness history`` and ``harness report``: click only; the work is in harness.history.holds*."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.common import common, emit_json, workspace

_SINCE = click.option("--since", default=None, help="only events from DATE on (2026-11-22, 3d, 12h)")
_REV = click.option("--rev", default=None, help="read this commit's history instead of upstream main")
_EVENTS = click.option(
    "--events",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="the loop's events file (default: agent_logs/events.jsonl)",
)


@click.command()
@_SINCE
@_REV
@_EVENTS
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@common
def history(
    since: str | None, rev: str | None, events: Path | None, as_json: bool, repo: Path, agent: str | None
) -> None:
    """Claims, releases, reclaims and sweeps from the lock history, with stats."""
    from harness.history.query import run_history
    from harness.history.text import history_lines

    result = run_history(workspace(repo, agent), rev=rev, since=since, events=events)
    for note in result.notes:
        click.echo(note, err=True)
    if as_json:
        emit_json(result.stats)
        return
    for line in history_lines(result.stats):
        click.echo(line)


@click.command()
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@_SINCE
@_REV
@_EVENTS
@common
def report(out: Path, since: str | None, rev: str | None, events: Path | None, repo: Path, agent: str | None) -> None:
    """Write OUT.html: one self-contained page of plots and tables (no network needed)."""
    from harness.history.query import run_history
    from harness.history.report import write_report

    result = run_history(workspace(repo, agent), rev=rev, since=since, events=events)
    for note in result.notes:
        click.echo(note, err=True)
    size = write_report(out, result)
    click.echo(f"report: {out} ({size // 1024} KiB, {result.stats['commits']} lock commits)")


@click.command()
@click.option("--interval", type=click.FloatRange(min=0.1), default=5.0, help="seconds between refreshes")
@click.option("--once", is_flag=True, help="print one frame and exit")
@click.option("--frames", type=click.IntRange(min=1), default=None, hidden=True, help="stop after N frames")
@click.option("--fleet", default=None, help="a Docker fleet's name: show its containers' states too")
@_EVENTS
@common
def top(
    interval: float,
    once: bool,
    frames: int | None,
    fleet: str | None,
    events: Path | None,
    repo: Path,
    agent: str | None,
) -> None:
    """A live view of the fleet: agents, tasks, iteration, last outcome, tests, spend."""
    import sys
    import time

    from harness.history.query import events_file
    from harness.history.top import collect, render

    ws = workspace(repo, agent)
    ps = None
    if fleet is not None:
        from harness.runtime.docker import DockerRuntime

        runtime = DockerRuntime()
        ps = lambda: runtime.ps(fleet)  # noqa: E731
    live = not once and sys.stdout.isatty()
    title = f"harness top — {fleet or ws.root.name}"
    shown = 0
    try:
        while True:
            lines = render(collect(ws, events_file(ws, events), ps), title)
            # Home + clear, then the frame: the view refreshes in place on a terminal.
            prefix = "\x1b[H\x1b[2J" if live else ("\n" if shown else "")
            click.echo(prefix + "\n".join(lines))
            shown += 1
            if once or (frames is not None and shown >= frames):
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        return
