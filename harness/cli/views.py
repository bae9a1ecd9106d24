"""``harness history`` and ``harness report``: click only; the work is in harness.history.holds*."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from harness.cli.common import common, emit_json, workspace

if TYPE_CHECKING:
    from harness.workspace import Workspace

_SINCE = click.option("--since", default=None, help="only events from DATE on (2026-11-22, 3d, 12h)")
_REV = click.option("--rev", default=None, help="read this commit's history instead of upstream main")
_EVENTS = click.option(
    "--events",
    type=click.Path(dir_okay=False, path_type=Path),
    multiple=True,
    help="a loop's events file (repeatable; default: every agent's of the repo's fleet, and agent_logs/events.jsonl)",
)


def _fleet(ws: Workspace, name: str | None = None, runtime: str | None = None) -> tuple[Any, str] | None:
    """The fleet recorded for the work repo (``harness up`` wrote it), or the one named; None
    when there is none: the views then show the locks and this clone's own events."""
    from harness.cli.fleet import find_fleet
    from harness.errors import HarnessError

    try:
        return find_fleet(ws.root, None, name, runtime)
    except HarnessError:
        if name is not None:
            raise
        return None


def _fleet_events(found: tuple[Any, str] | None) -> list[Path]:
    from harness.errors import HarnessError

    if found is None:
        return []
    engine, name = found
    try:
        return list(engine.events(name))
    except HarnessError:  # its state is gone (a fleet dir removed): the locks still tell a lot
        return []


def _all_events(ws: Workspace) -> list[Path]:
    """For history and report: the recorded fleet's events, and the copies a Docker fleet left
    with the upstream (its containers are gone after ``down``)."""
    from harness.git.upstream import local_upstream_path
    from harness.runtime.fleetrecord import events_copies

    upstream = local_upstream_path(ws.repo)
    copies = events_copies(upstream) if upstream is not None else []
    return list(dict.fromkeys([*_fleet_events(_fleet(ws)), *copies]))


@click.command()
@_SINCE
@_REV
@_EVENTS
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@common
def history(
    since: str | None, rev: str | None, events: tuple[Path, ...], as_json: bool, repo: Path, agent: str | None
) -> None:
    """Claims, releases, reclaims and sweeps from the lock history, with stats."""
    from harness.history.query import run_history
    from harness.history.text import history_lines

    ws = workspace(repo, agent)
    fleet = [] if events else _all_events(ws)
    result = run_history(ws, rev=rev, since=since, events=events, fleet=fleet)
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
def report(
    out: Path, since: str | None, rev: str | None, events: tuple[Path, ...], repo: Path, agent: str | None
) -> None:
    """Write OUT.html: one self-contained page of plots and tables (no network needed)."""
    from harness.history.query import run_history
    from harness.history.report import write_report

    ws = workspace(repo, agent)
    fleet = [] if events else _all_events(ws)
    result = run_history(ws, rev=rev, since=since, events=events, fleet=fleet)
    for note in result.notes:
        click.echo(note, err=True)
    size = write_report(out, result)
    click.echo(f"report: {out} ({size // 1024} KiB, {result.stats['commits']} lock commits)")


@click.command()
@click.option("--interval", type=click.FloatRange(min=0.1), default=5.0, help="seconds between refreshes")
@click.option("--once", is_flag=True, help="print one frame and exit")
@click.option("--frames", type=click.IntRange(min=1), default=None, hidden=True, help="stop after N frames")
@click.option("--fleet", default=None, help="a fleet's name (default: the one recorded for this work repo)")
@click.option("--runtime", type=click.Choice(("local", "docker")), default=None, help="the named fleet's runtime")
@_EVENTS
@common
def top(
    interval: float,
    once: bool,
    frames: int | None,
    fleet: str | None,
    runtime: str | None,
    events: tuple[Path, ...],
    repo: Path,
    agent: str | None,
) -> None:
    """A live view of the fleet: agents, tasks, iteration, last outcome, tests, spend."""
    import sys
    import time

    from harness.history.query import events_files
    from harness.history.top import collect, render

    ws = workspace(repo, agent)
    found = _fleet(ws, fleet, runtime)
    ps = (lambda: found[0].ps(found[1])) if found is not None else None
    live = not once and sys.stdout.isatty()
    title = f"harness top — {found[1] if found else ws.root.name}"
    shown = 0
    try:
        while True:
            # The fleet's events files are looked up each frame: a Docker fleet's are copies.
            paths = events_files(ws, events, [] if events else _fleet_events(found))
            lines = render(collect(ws, paths, ps), title)
            # Home + clear, then the frame: the view refreshes in place on a terminal.
            prefix = "\x1b[H\x1b[2J" if live else ("\n" if shown else "")
            click.echo(prefix + "\n".join(lines))
            shown += 1
            if once or (frames is not None and shown >= frames):
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        return
