"""``harness history`` and ``harness report``: click only; the work is in harness.history*."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli import common, emit_json, workspace

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
    from harness.history_query import run_history
    from harness.history_text import history_lines

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
    from harness.history_query import run_history
    from harness.report import write_report

    result = run_history(workspace(repo, agent), rev=rev, since=since, events=events)
    for note in result.notes:
        click.echo(note, err=True)
    size = write_report(out, result)
    click.echo(f"report: {out} ({size // 1024} KiB, {result.stats['commits']} lock commits)")
