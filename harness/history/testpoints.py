"""Tests passing over time, from the gate's baselines (one JSON file per tip of ``main``).

The gate writes ``<upstream.git>/harness/baseline/<tip>.json`` (see harness/gate/baseline.py)
with the tests that passed at that tip. Each file is one point: the tip's commit time and
how many tests passed. Only an upstream on this file system can be read this way; a
remote one gives no points (the report says so) — the loop's events may still carry
``tests_passed`` of their own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.git.repo import GitRepo

BASELINE_SUBDIR = Path("harness") / "baseline"


@dataclass(frozen=True)
class TestPoint:
    time: float
    passed: int
    tip: str


def baseline_points(repo: GitRepo, directory: Path | None, rev: str | None) -> list[TestPoint]:
    """One point per readable baseline of a commit on first-parent ``rev``, in history order."""
    if rev is None or directory is None or not directory.is_dir():
        return []
    counts: dict[str, int] = {}
    for path in directory.glob("*.json"):
        try:
            passed = json.loads(path.read_text(encoding="utf-8")).get("passed")
        except (OSError, ValueError, AttributeError):
            continue  # the gate rewrites a bad file on the next push; a report just skips it
        if isinstance(passed, list):
            counts[path.stem] = len(passed)
    if not counts:
        return []
    # History order, not date order: tips pushed within one second must still line up.
    out = repo.run("log", "--first-parent", "--reverse", "--format=%H %ct", rev).stdout.decode()
    points = []
    for line in out.splitlines():
        sha, _, when = line.partition(" ")
        if sha in counts:
            points.append(TestPoint(float(when), counts[sha], sha))
    return points
