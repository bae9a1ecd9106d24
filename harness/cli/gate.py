"""``harness gate [--pre-receive | --pre-push]`` and ``harness hooks install``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from harness.cli.common import common, workspace


def _say(line: str) -> None:
    click.echo(line, err=True)


@click.command()
@click.option("--pre-receive", "mode", flag_value="pre-receive", help="run as the upstream's pre-receive hook")
@click.option("--pre-push", "mode", flag_value="pre-push", default=True, help="check local HEAD (the default)")
@click.option("--branch", default="main", hidden=True, help="the gated branch (pre-receive)")
@common
def gate(mode: str, branch: str, repo: Path, agent: str | None) -> None:
    """Refuse what would break a test that passes at upstream main (exit 6)."""
    from harness.gate import check as core

    if mode == "pre-receive":
        git_dir = Path(os.environ.get("GIT_DIR", ".")).resolve()
        raise SystemExit(core.pre_receive(git_dir, sys.stdin.read(), branch, _say))
    result = core.pre_push(workspace(repo, agent), _say)
    if result is None:
        click.echo("gate: nothing to push")
    elif result.skipped:
        click.echo(f"gate: ok ({result.skipped}, no tests run)")
    else:
        assert result.verdict is not None
        flaky = f", flaky: {', '.join(result.verdict.flaky)}" if result.verdict.flaky else ""
        click.echo(f"gate: ok, no regressions ({len(result.verdict.new_passes)} newly passing{flaky})")


@click.group()
def hooks() -> None:
    """The gate's hooks on the bare upstream."""


@hooks.command("install")
@click.option("--upstream", type=click.Path(file_okay=False, path_type=Path), help="bare upstream (default: origin)")
@click.option("--force", is_flag=True, help="replace a pre-receive hook harness did not write")
@common
def install(upstream: Path | None, force: bool, repo: Path, agent: str | None) -> None:
    """Install the pre-receive gate on the upstream."""
    from harness.errors import UsageError
    from harness.gate.hooks import install_hooks
    from harness.git.upstream import local_upstream_path

    ws = workspace(repo, agent) if upstream is None else None
    target = upstream or (local_upstream_path(ws.repo) if ws else None)
    if target is None:
        raise UsageError("origin is not a local path; pass --upstream PATH/TO/UPSTREAM.git")
    branch = ws.config.branch if ws else "main"
    hook = install_hooks(target.resolve(), branch, force=force)
    click.echo(f"installed {hook} (gating refs/heads/{branch}; python {sys.executable})")
