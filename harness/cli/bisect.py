"""``harness bisect``: oracle bisection of a failing candidate build."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from harness.cli.common import common, emit_json
from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.bisect.run import BisectReport


@click.command()
@click.option(
    "--units",
    "units_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="file listing the units, one per line (e.g. source files)",
)
@click.option(
    "--probe",
    "command",
    required=True,
    help="shell command: build $HARNESS_BISECT_CANDIDATE's units with the candidate, the rest with the oracle; "
    "exit 0 good, 125 cannot tell, 1-127 bad",
)
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, help="probes run at once")
@click.option("--json", "as_json", is_flag=True, help="machine-readable result")
@click.option("--emit-tasks", is_flag=True, help="write tasks/<id>.yaml (in --repo) for each culprit")
@click.option("--task-prefix", default="bisect", help="task id prefix for --emit-tasks")
@click.option(
    "--random-split",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="probe this agent's own random fraction first; if it fails, bisect only inside it",
)
@click.option("--seed", default=None, help="seed of --random-split (default: the agent id)")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None, help="seconds per probe")
@click.option("--timeout-is-bad", is_flag=True, help="read a probe that times out as bad, not as cannot-tell")
@click.option("--repeats", type=click.IntRange(min=1), default=2, help="tries for a probe that cannot tell")
@click.option("--cache", type=click.Path(dir_okay=False, path_type=Path), help="file keeping verdicts across runs")
@click.option("--quiet", is_flag=True, help="no progress lines on stderr")
@common
def bisect(
    units_file: Path,
    command: str,
    jobs: int,
    as_json: bool,
    emit_tasks: bool,
    task_prefix: str,
    random_split: float | None,
    seed: str | None,
    timeout: float | None,
    timeout_is_bad: bool,
    repeats: int,
    cache: Path | None,
    quiet: bool,
    repo: Path,
    agent: str | None,
) -> None:
    """Find the units whose candidate build breaks the probe, each a small task."""
    from harness.bisect.probe import ProbeSettings
    from harness.bisect.run import random_subset, read_units, run_bisect
    from harness.bisect.specs import culprit_specs, write_specs

    units = read_units(units_file)
    settings = ProbeSettings(command, Path.cwd(), timeout, repeats, timeout_is_bad, cache)
    first = None
    if random_split is not None:
        who = seed or agent or os.environ.get("HARNESS_AGENT") or f"{os.uname().nodename}-{os.getpid()}"
        first = random_subset(units, random_split, who)
    progress = None if quiet else (lambda line: click.echo(f"bisect: {line}", err=True))
    report = run_bisect(units, settings, jobs, first, progress)
    written: list[Path] = []
    if emit_tasks and report.culprits:
        written = write_specs(repo, culprit_specs(report, command, task_prefix))
    if as_json:
        data = report.to_json()
        data["tasks"] = [str(p) for p in written]
        emit_json(data)
    else:
        for line in summary_lines(report, written):
            click.echo(line)
    if not report.confirmed:
        raise HarnessError(incomplete_message(report))


def summary_lines(report: BisectReport, written: list[Path]) -> list[str]:
    lines = [
        f"{len(report.culprits)} culprit(s) among {report.scope} units: {report.probes} probes "
        f"in {report.rounds} rounds (-j {report.jobs}; log2 C(n,k) = {report.information_bound:.1f})"
    ]
    for group in report.culprits:
        lines.append(f"  {' + '.join(group)}" + ("   (fail only together)" if len(group) > 1 else ""))
    if report.confirmed:
        lines.append("confirmed: with every other unit from the candidate the probe passes")
    lines.extend(f"task spec: {path}" for path in written)
    return lines


def incomplete_message(report: BisectReport) -> str:
    if report.undecided:
        shown = ", ".join(report.undecided[:5]) + (" ..." if len(report.undecided) > 5 else "")
        return (
            f"bisection incomplete: the probe could not tell for {len(report.undecided)} unit(s) ({shown}); "
            "the culprits above are confirmed, these are not — fix the probe (exit 125/crash/timeout) and rerun"
        )
    return "bisection incomplete: the final confirmation probe could not tell; rerun with a larger --timeout"
