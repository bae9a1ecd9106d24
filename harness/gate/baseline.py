"""The baseline ratchet: the set of tests that pass at each tip of ``main``.

Where it lives: JSON files ``<upstream.git>/harness/baseline/<tip-sha>.json``, written only
by the pre-receive gate on the upstream itself. They are in no tree and behind no ref, so
no push can add, edit or delete one, and an agent never merges one by accident. The gate
always reads the file of the *old* tip (the one being replaced), never anything from the
pushed content; the new tip's file is the set that passed in the gate run, so a test that
starts passing tightens the ratchet. See docs/testing.md.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.config import GateSettings
from harness.errors import ConfigError
from harness.testing.model import RunResult


@dataclass(frozen=True)
class Baseline:
    tip: str
    passed: frozenset[str]
    flaky: Mapping[str, int] = field(default_factory=dict)  # test id -> times it failed then passed

    def to_json(self) -> dict[str, object]:
        return {
            "tip": self.tip,
            "passed": sorted(self.passed),
            "flaky": dict(sorted(self.flaky.items())),
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }


class BaselineStore:
    """One JSON file per tip sha under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, tip: str) -> Path:
        return self.directory / f"{tip}.json"

    def load(self, tip: str) -> Baseline | None:
        path = self.path(tip)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"{path}: unreadable baseline ({exc}); delete it to recompute it at the next push"
            ) from exc
        passed, flaky = data.get("passed"), data.get("flaky", {})
        if not isinstance(passed, list) or not isinstance(flaky, dict):
            raise ConfigError(f"{path}: baseline without a `passed` list; delete it to recompute it at the next push")
        return Baseline(tip, frozenset(str(t) for t in passed), {str(k): int(v) for k, v in flaky.items()})

    def save(self, baseline: Baseline) -> Path:
        """Atomically: a reader never sees half a baseline."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(baseline.tip)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(baseline.to_json(), indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return path


@dataclass(frozen=True)
class Judgement:
    regressions: dict[str, str]  # test id -> reason
    flaky: tuple[str, ...]  # failed, then passed on a re-run: not regressions
    new_passes: tuple[str, ...]  # passed now, not in the old baseline: the ratchet tightens
    passed: frozenset[str]  # the new tip's baseline, if the push lands

    @property
    def ok(self) -> bool:
        return not self.regressions


Rerun = Callable[[Sequence[str]], RunResult]


def judge(old: Baseline, run: RunResult, rerun: Rerun, settings: GateSettings) -> Judgement:
    """Compare a full run with the old tip's baseline; re-run failures before blaming."""
    now = run.passed()
    lost = sorted(old.passed - now)
    missing = [tid for tid in lost if tid not in run.results]
    remaining = [tid for tid in lost if tid in run.results]
    flaky: list[str] = []
    for _ in range(settings.reruns):
        if not remaining:
            break
        again = rerun(remaining).passed()
        flaky += [tid for tid in remaining if tid in again]
        remaining = [tid for tid in remaining if tid not in again]
    short = old.tip[:12]
    regressions = {}
    for tid in remaining:
        result = run.results[tid]
        detail = f": {result.reason}" if result.reason else ""
        regressions[tid] = f"passed at {short}, now {result.outcome.value}{detail}"
    if not settings.allow_removed_tests:
        for tid in missing:
            regressions[tid] = (
                f"passed at {short}, missing now (deleted or renamed tests need gate.allow_removed_tests)"
            )
    return Judgement(
        regressions=regressions,
        flaky=tuple(flaky),
        new_passes=tuple(sorted(now - old.passed)),
        passed=frozenset(now | set(flaky)),
    )


def next_baseline(old: Baseline | None, tip: str, verdict: Judgement) -> Baseline:
    flaky = dict(old.flaky) if old else {}
    for tid in verdict.flaky:
        flaky[tid] = flaky.get(tid, 0) + 1
    return Baseline(tip, verdict.passed, flaky)
