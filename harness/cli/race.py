"""``harness race``: the lock protocol settling a real race between local processes."""

from __future__ import annotations

from pathlib import Path

import click

from harness.errors import HarnessError


@click.command()
@click.option("--claimers", type=click.IntRange(1, 64), default=16, show_default=True)
@click.option("--tasks", type=click.IntRange(1, 64), default=8, show_default=True)
@click.option("--dir", "keep", type=click.Path(file_okay=False, path_type=Path), help="keep the repos here")
def race(claimers: int, tasks: int, keep: Path | None) -> None:
    """Race CLAIMERS processes for TASKS tasks on a fresh upstream; prove each was won once."""
    from harness.demo.race import race_demo

    if not race_demo(claimers, tasks, keep, click.echo):
        raise HarnessError("the race did not settle as the protocol promises (see the lines above)")
