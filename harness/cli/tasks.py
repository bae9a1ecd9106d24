"""``harness tasks add|list|next``."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from harness.cli.common import common, emit_json, workspace
from harness.errors import NotClaimable


@click.group()
def tasks() -> None:
    """Task specs in tasks/<id>.yaml, and the scheduler's next choice."""


@tasks.command("add")
@click.argument("task")
@click.option("--title", required=True, help="one line saying what done looks like")
@click.option("--body", default="", help="details for the agent")
@click.option("--depends-on", multiple=True, help="task ids that must be done first (repeatable)")
@click.option("--files", multiple=True, help="paths/globs the task will touch (repeatable)")
@click.option(
    "--accept", multiple=True, help="a test that decides the task: done only when it passes in the gate (repeatable)"
)
@click.option("--priority", type=int, default=0, help="higher runs first")
@click.option("--role", default=None, help="only agents of this role take it")
@common
def add(
    task: str,
    title: str,
    body: str,
    depends_on: tuple[str, ...],
    files: tuple[str, ...],
    accept: tuple[str, ...],
    priority: int,
    role: str | None,
    repo: Path,
    agent: str | None,
) -> None:
    """Add a task spec to upstream main."""
    from harness.tasks.ops import add_task
    from harness.tasks.specs import TaskSpec

    spec = TaskSpec(
        id=task,
        title=title,
        body=body,
        depends_on=depends_on,
        files=files,
        accept=accept,
        priority=priority,
        role=role,
    )
    published = add_task(workspace(repo, agent), spec)
    click.echo(f"added task {task} at {published.commit}")


@tasks.command("list")
@click.option("--json", "as_json", is_flag=True)
@common
def list_(as_json: bool, repo: Path, agent: str | None) -> None:
    """Every task spec with its state: done, held, blocked or ready."""
    from harness.tasks.ops import snapshot_at_tip, task_rows

    snap = snapshot_at_tip(workspace(repo, agent))
    for problem in snap.spec_problems.values():  # the other tasks are still listed (exit 0)
        click.echo(f"ERROR {problem}", err=True)
    rows = task_rows(snap)
    if as_json:
        emit_json([asdict(r) for r in rows])
        return
    if not rows:
        click.echo("no task specs yet: harness tasks add ID --title TEXT")
        return
    width = max(len(row.id) for row in rows)
    click.echo(f"{'STATE':8} {'TASK':{width}} {'ROLE':10} {'PRIO':>4}  TITLE")
    for row in rows:
        detail = f"  ({row.detail})" if row.detail else ""
        accept = f"  [accept: {', '.join(row.accept)}]" if row.accept else ""
        click.echo(
            f"{row.state:8} {row.id:{width}} {row.role or 'any':10} {row.priority:>4}  {row.title}{detail}{accept}"
        )


@tasks.command("next")
@click.option("--role", default=None, help="the role asking")
@click.option("--json", "as_json", is_flag=True)
@common
def next_(role: str | None, as_json: bool, repo: Path, agent: str | None) -> None:
    """The task the scheduler would claim next (exit 4 when none is claimable)."""
    from harness.tasks.ops import next_choice, snapshot_at_tip

    snap = snapshot_at_tip(workspace(repo, agent))
    spec = next_choice(snap, role)
    if as_json:
        emit_json({"next": spec.id if spec else None, "title": spec.title if spec else None})
    elif spec:
        click.echo(spec.id)
    if spec is None:
        raise NotClaimable("no claimable task" + (f" for role {role}" if role else ""))
