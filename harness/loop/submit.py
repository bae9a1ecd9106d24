"""The loop's end of an iteration when the upstream runs a merge queue (docs/queue.md).

Instead of gating and pushing to main itself, the loop submits the work with the lock's
deletion to the task's queue ref and goes on to its next task at once; it never runs the full
suite (the queue runner does, once per batch). With ``queue.fast_sample`` it first runs the
agent's ``--fast`` sample and hands the task back on a regression.
"""

from __future__ import annotations

from harness.config import QueueSettings, read_queue_settings
from harness.errors import ConfigError
from harness.locks.release import NextClaim
from harness.loop.context import Ctx
from harness.loop.events import IterationEvent, IterationOutcome
from harness.queue.submission import submit
from harness.tasks.specs import TaskSpec


def queue_settings(ctx: Ctx) -> QueueSettings:
    try:
        return read_queue_settings(ctx.ws.config)
    except ConfigError:
        return QueueSettings()  # the gate and `harness queue run` report a bad queue section


def queue_enabled(ctx: Ctx) -> bool:
    return queue_settings(ctx).enabled


def fast_sample_regressions(ctx: Ctx) -> list[str]:
    """ERROR lines of regressions in this agent's fast sample ([] when none or no tests)."""
    if not ctx.ws.config.raw.get("tests") or not queue_settings(ctx).fast_sample:
        return []
    from harness.testing.command import run_for_agent

    report = run_for_agent(ctx.ws, fast=True, fraction=None, seed=None, say=lambda _: None)
    return [line for line in report.lines if "regression:" in line]


def submit_work(
    ctx: Ctx,
    spec: TaskSpec,
    iteration: int,
    event: IterationEvent,
    next_claim: tuple[NextClaim | None, dict[str, TaskSpec]],
) -> IterationOutcome:
    """Submit to the queue, with the next claim in the same push when the loop goes on
    (``next_claim``: the scheduler's picker and the specs it chose); the outcome ("queued").
    Raises what ``submit`` raises."""
    picker, chosen = next_claim
    submitted = submit(ctx.ws, spec.id, ctx.role, note=f"iteration {iteration}", claim_next=picker)
    event.commits_pushed = submitted.work_commits
    ctx.say(f"{spec.id}: submitted {submitted.work_commits} commit(s) to the merge queue ({submitted.ref})")
    if submitted.next_claim is not None:
        ctx.preclaimed = chosen[submitted.next_claim.task]
    return IterationOutcome.QUEUED
