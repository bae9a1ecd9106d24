"""``harness test [--fast] [--fraction F] [--seed S] [--json]``.

Exit 0 when every selected test passed, 6 when any failed, 1 when the run itself broke
(a crashed runner, a malformed report: the ERROR (run) line says which).
"""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.common import common, emit_json, workspace


@click.command("test")
@click.option("--fast", is_flag=True, help="run a deterministic sample (tests.fast_fraction of the suite)")
@click.option("--fraction", type=float, default=None, help="sample size, 0.01 to 0.10 (implies --fast)")
@click.option("--seed", default=None, help="sample seed (default: the agent id; for a person, git's user.email)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@common
def test(fast: bool, fraction: float | None, seed: str | None, as_json: bool, repo: Path, agent: str | None) -> None:
    """Run the project's tests; print a summary, ERROR lines and the log path."""
    import os

    from harness.errors import ExitCode
    from harness.testing.command import person, run_for_agent

    ws = workspace(repo, agent)
    # A person (no --agent, no HARNESS_AGENT) is known by their git identity, not by a pid.
    who = None if agent or os.environ.get("HARNESS_AGENT") else person(ws)
    report = run_for_agent(ws, fast or fraction is not None, fraction, seed, lambda s: click.echo(s, err=True), who)
    if as_json:
        emit_json(report.json)
    else:
        for line in report.lines:
            click.echo(line)
    if report.run.problems:
        raise SystemExit(int(ExitCode.ERROR))
    if report.run.failures():
        raise SystemExit(int(ExitCode.GATE_REFUSED))
