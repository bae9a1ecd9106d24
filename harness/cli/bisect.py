"""``harness bisect``: oracle bisection of a failing candidate build."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from harness.cli.common import common, emit_json
from harness.errors import BisectUndecided, HarnessError, SanityFailed

if TYPE_CHECKING:
    from harness.bisect.run import BisectReport


class JsonOnUsageErrors(click.Command):
    """``--json`` promises an object on stdout on every path, a mistyped option too."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = list(args)  # the parser consumes the list it is given
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            if "--json" in given:
                emit_json({"status": "error", "error": exc.format_message()})
            raise


@click.command(cls=JsonOnUsageErrors)
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
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=2,
    help="probe a subset again up to N times when a confirmation probe contradicts the search",
)
@click.option("--cache", type=click.Path(dir_okay=False, path_type=Path), help="file keeping verdicts across runs")
@click.option("--cache-key", default="", help="what else decides a verdict (e.g. the candidate tool's hash)")
@click.option(
    "--candidate",
    "candidate_tool",
    type=click.Path(dir_okay=False, path_type=Path),
    help="the candidate tool's file: its content hash joins the cache key",
)
@click.option(
    "--keep-logs",
    type=click.Path(file_okay=False, path_type=Path),
    help="keep each probe's log here (default: CACHE.logs beside --cache, else a new temporary directory)",
)
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
    retries: int,
    cache: Path | None,
    cache_key: str,
    candidate_tool: Path | None,
    keep_logs: Path | None,
    quiet: bool,
    repo: Path,
    agent: str | None,
) -> None:
    """Find the units whose candidate build breaks the probe, each a small task.

    Exit 0: found, every culprit confirmed by fresh probes; 7: undecided (the probe is
    not deterministic, or could not judge some units); 8: sanity failure (the probe does
    not pass the all-oracle build or does not fail the all-candidate build).
    """
    from harness.bisect.probe import ProbeSettings
    from harness.bisect.run import random_subset, read_units, run_bisect, undecided_message
    from harness.bisect.specs import culprit_specs, task_repo, write_specs

    try:
        units = read_units(units_file)
        clone = task_repo(repo) if emit_tasks else None  # now: learning it after an hour's search is too late
        key, logs = cache_key_of(cache_key, candidate_tool), logs_dir(keep_logs, cache)
        settings = ProbeSettings(command, Path.cwd(), timeout, repeats, timeout_is_bad, cache, key, logs)
        first = None
        if random_split is not None:
            who = seed or agent or os.environ.get("HARNESS_AGENT") or f"{os.uname().nodename}-{os.getpid()}"
            first = random_subset(units, random_split, who)
        progress = None if quiet else (lambda line: click.echo(f"bisect: {line}", err=True))
        report = run_bisect(units, settings, jobs, first, progress, retries)
        written: list[Path] = []
        if clone is not None and report.culprits:
            written = write_specs(clone, culprit_specs(report, command, settings.cwd, task_prefix))
    except HarnessError as exc:
        if as_json:  # a script reading stdout gets an object on every path
            emit_json({"status": "sanity-failed" if isinstance(exc, SanityFailed) else "error", "error": str(exc)})
        raise
    if as_json:
        emit_json({**report.to_json(), "tasks": [str(p) for p in written]})
    else:
        for line in summary_lines(report, written):
            click.echo(line)
    if not report.confirmed:
        raise BisectUndecided(undecided_message(report))


def cache_key_of(given: str, candidate_tool: Path | None) -> str:
    """``--cache-key`` and the ``--candidate`` file's content hash, together."""
    from harness.bisect.probe import file_key

    return " ".join(part for part in (given, file_key(candidate_tool) if candidate_tool else "") if part)


def logs_dir(keep_logs: Path | None, cache: Path | None) -> Path:
    """``--keep-logs``, else ``CACHE.logs`` beside the cache, else a new temporary directory."""
    if keep_logs is not None:
        return keep_logs
    if cache is not None:
        return cache.with_name(cache.name + ".logs")
    return Path(tempfile.mkdtemp(prefix="harness-bisect-logs-"))


def summary_lines(report: BisectReport, written: list[Path]) -> list[str]:
    confirmation = f", {report.outcome.confirmation_probes} of them confirming" if report.probes else ""
    cached = f", {report.cached} answers from the cache" if report.cached else ""
    lines = [
        f"{len(report.culprits)} culprit(s) among {report.scope} units: {report.probes} probes{confirmation}"
        f"{cached} in {report.outcome.rounds} rounds (-j {report.jobs}; "
        f"information bound {report.information_bound:.1f} bits)"
    ]
    for group in report.culprits:
        lines.append(f"  {' + '.join(group)}" + ("   (fail only together)" if len(group) > 1 else ""))
    if report.confirmed:
        lines.append("confirmed by fresh probes: each culprit fails alone, every other unit from the candidate passes")
    for group in report.suspects:
        lines.append(f"  not confirmed: {' + '.join(group)}")
    for c in report.outcome.contradictions:
        probes = [r for r in report.records if r.subset == c.subset]
        seen = ", ".join(f"probe {r.number}{' (cached)' if r.cached else ''} {r.verdict.value}" for r in probes)
        lines.append(f"  {c.finding.value}: {seen}")
    if report.logs is not None:
        lines.append(f"probe logs: {report.logs}/NNNN/output.log")
    lines.extend(f"task spec: {path}" for path in written)
    return lines
