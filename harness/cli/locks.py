"""The lock protocol's commands: ``init``, ``claim``, ``release``, ``heartbeat``, ``status``.

Core is imported inside each command, so a claim pays only for what it uses.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from harness.cli.common import common, emit_json, workspace
from harness.config import LEASE_MAX_SECONDS, LEASE_MIN_SECONDS
from harness.errors import UsageError


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--from", "source", type=click.Path(exists=True, path_type=Path), help="existing repo to start from")
@click.option("--upstream", type=click.Path(path_type=Path), help="where the bare upstream goes")
def init(path: Path, source: Path | None, upstream: Path | None) -> None:
    """Create a work repo (clone + bare upstream) at PATH."""
    from harness.initrepo import init_work_repo

    result = init_work_repo(path, source, upstream)
    click.echo(f"work repo: {result.clone}\nupstream:  {result.upstream}")
    click.echo(f"next: cd {result.clone}; say how to run the tests in harness.yaml (`tests:`), commit, and push")
    click.echo("      it as the lead (HARNESS_ROLE=lead git push); then harness tasks add ID --title TEXT")


@click.command()
@click.argument("task")
@click.option("--role", default="", help="the claimer's role")
@click.option("--note", default="", help="a line for the lock file and the commit")
@click.option("--files", multiple=True, help="paths/globs this task will touch (repeatable)")
@click.option(
    "--lease",
    type=click.IntRange(min=LEASE_MIN_SECONDS, max=LEASE_MAX_SECONDS),
    default=None,
    help="lease seconds, 10 to 604800 (default from harness.yaml)",
)
@click.option("--no-spec", is_flag=True, help="claim TASK even though tasks/TASK.yaml does not exist")
@common
def claim(
    task: str,
    role: str,
    note: str,
    files: tuple[str, ...],
    lease: int | None,
    no_spec: bool,
    repo: Path,
    agent: str | None,
) -> None:
    """Claim TASK: exit 0 won, 3 held by another agent, 4 not claimable."""
    from harness.locks.claim import claim as do_claim

    result = do_claim(
        workspace(repo, agent), task, role=role, note=note, files=files, lease_seconds=lease, spec_required=not no_spec
    )
    if result.already_held:
        click.echo(f"already held: {task} by {result.lock.agent} (nonce {result.lock.nonce[:12]})")
    elif result.reclaimed_from:
        click.echo(
            f"reclaimed {task} from {result.reclaimed_from} (generation {result.lock.generation}) at {result.commit}"
        )
    else:
        click.echo(f"claimed {task} (nonce {result.lock.nonce[:12]}) at {result.commit}")


@click.command()
@click.argument("task")
@click.option("--done", is_flag=True, help="mark the task done")
@click.option("--abandon", is_flag=True, help="hand the lock back; park local commits")
@click.option("--note", default="", help="a line for the release commit")
@common
def release(task: str, done: bool, abandon: bool, note: str, repo: Path, agent: str | None) -> None:
    """Release TASK, pushing local work with it. Exit 5 fenced (our lock was reclaimed or removed),
    3 held by another agent, 4 not held by anyone."""
    from harness.locks.lockfile import validate_task_id
    from harness.locks.release import ReleaseOutcome
    from harness.locks.release import release as do_release
    from harness.queue.submission import submits_to_queue

    if done and abandon:
        raise UsageError("--done and --abandon contradict each other: pass one (done lands the work, abandon parks it)")
    validate_task_id(task)  # a bad id is a usage error (2), never "fenced" (5)
    outcome = ReleaseOutcome.DONE if done else ReleaseOutcome.ABANDONED if abandon else ReleaseOutcome.RELEASED
    ws = workspace(repo, agent)
    if done and submits_to_queue(ws):
        from harness.queue.submission import submit

        submitted = submit(ws, task, os.environ.get("HARNESS_ROLE", ""), note)
        click.echo(f"submitted {task} ({submitted.work_commits} commit(s) of work) to the merge queue: {submitted.ref}")
        return
    result = do_release(ws, task, outcome, note)
    extra = f", {result.work_commits} commit(s) of work" if result.work_commits else ""
    click.echo(f"released {task} ({result.outcome.value}{extra}) at {result.commit}")
    if result.parked_ref:
        click.echo(f"local commits parked on {result.parked_ref}")


@click.command()
@common
def heartbeat(repo: Path, agent: str | None) -> None:
    """Refresh this agent's heartbeat ref on the upstream."""
    from harness.locks.claim import heartbeat as do_heartbeat

    ws = workspace(repo, agent)
    commit = do_heartbeat(ws)
    click.echo(f"heartbeat {ws.agent} at {commit[:12]}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option("--fleet", default=None, help="a Docker fleet's name: also show if each holder's container runs")
@common
def status(as_json: bool, fleet: str | None, repo: Path, agent: str | None) -> None:
    """Locks at the upstream tip: holder, age, heartbeat, stale."""
    from harness.history.textfmt import status_lines
    from harness.locks.status import status as do_status

    report = do_status(workspace(repo, agent))
    if fleet is not None:
        from harness.locks.status import with_containers
        from harness.runtime.docker import DockerRuntime

        report = with_containers(report, {i.agent: i.state for i in DockerRuntime().ps(fleet)})
    if as_json:
        emit_json(report.to_json())
        return
    for line in status_lines(report):
        click.echo(line)
