"""What an agent reads after a run: a few lines, never the thousands a suite prints.

A summary line, one ``ERROR <test>: <reason>`` line per failure (regressions first, capped
with the count of the rest), ``FLAKY`` lines, and the path of the full log. ``to_json``
gives tools the counts, the ids run (``selected``) and every failure.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from harness.testing.model import Outcome, RunResult, TestResult


def summary(run: RunResult) -> str:
    ran = len(run.selected)
    passed = len(run.passed() & set(run.selected))
    percent = f"{100.0 * passed / ran:.1f}%" if ran else "n/a"
    if run.fraction is not None:
        scope = f"{run.fraction * 100:g}% sample of {run.total}, seed {run.seed}"
    else:
        scope = "full suite"
    extra = ""
    skipped = run.count(Outcome.SKIPPED)
    if skipped:
        extra = f", {skipped} skipped"
    return f"{passed}/{ran} passed ({percent}){extra}, {scope}, {run.seconds:.1f} s"


def error_lines(
    run: RunResult,
    regressions: Mapping[str, str] | None = None,
    max_errors: int = 20,
) -> list[str]:
    """ERROR lines: run problems, then regressions, then other failures; capped."""
    regressions = regressions or {}
    lines = [f"ERROR (run): {problem}" for problem in run.problems]
    lines += [f"ERROR {tid}: regression: {reason}" for tid, reason in sorted(regressions.items())]
    lines += [_failure(r) for r in sorted(run.failures(), key=lambda r: r.id) if r.id not in regressions]
    if len(lines) > max_errors:
        rest = len(lines) - max_errors
        lines = [*lines[:max_errors], f"... and {rest} more (all in {run.log_path})"]
    return lines


def _failure(result: TestResult) -> str:
    reason = result.reason or result.outcome.value
    return f"ERROR {result.id}: {reason}"


def report_lines(
    run: RunResult,
    regressions: Mapping[str, str] | None = None,
    flaky: Collection[str] = (),
    max_errors: int = 20,
) -> list[str]:
    lines = [summary(run), *error_lines(run, regressions, max_errors)]
    lines += [f"FLAKY {tid}: failed, then passed on re-run" for tid in sorted(flaky)]
    lines.append(f"log: {run.log_path}")
    return lines


def to_json(
    run: RunResult, regressions: Mapping[str, str] | None = None, flaky: Collection[str] = ()
) -> dict[str, Any]:
    counts = {outcome.value: run.count(outcome) for outcome in Outcome}
    return {
        "summary": summary(run),
        "counts": {"selected": len(run.selected), "total": run.total, **counts},
        "fraction": run.fraction,
        "seed": run.seed or None,
        "seconds": round(run.seconds, 3),
        "selected": list(run.selected),
        "failures": [
            {"id": r.id, "outcome": r.outcome.value, "reason": r.reason, "regression": r.id in (regressions or {})}
            for r in sorted(run.failures(), key=lambda r: r.id)
        ],
        "regressions": dict(regressions or {}),
        "flaky": sorted(flaky),
        "problems": list(run.problems),
        "log": str(run.log_path),
    }
