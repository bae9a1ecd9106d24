"""``harness bisect`` below the CLI: read the units, drive the search with the probe
runner, turn the outcome into a report and, on request, into task specs."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.bisect import engine
from harness.bisect import search as bisect
from harness.bisect.probe import ProbeRecord, ProbeRunner, ProbeSettings
from harness.errors import ConfigError, HarnessError


def read_units(path: Path) -> list[str]:
    """One unit per line; blank lines and ``#`` comments are skipped; duplicates refused."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--units {path}: cannot read it ({exc}); give a text file with one unit per line") from exc
    units: list[str] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        unit = raw.strip()
        if not unit or unit.startswith("#"):
            continue
        if unit in seen:
            raise ConfigError(
                f"{path}:{number}: unit {unit!r} is listed again (first on line {seen[unit]}); list it once"
            )
        seen[unit] = number
        units.append(unit)
    if not units:
        raise ConfigError(f"{path}: no units; list one unit (e.g. a source file) per line")
    return units


def random_subset(units: Sequence[str], fraction: float, seed: str) -> list[int]:
    """This agent's own random ``fraction`` of the units: the same seed, the same subset."""
    size = max(1, min(len(units) - 1, round(fraction * len(units))))
    return sorted(random.Random(f"harness-bisect:{seed}").sample(range(len(units)), size))


@dataclass(frozen=True)
class BisectReport:
    units: list[str]
    culprits: list[tuple[str, ...]]
    undecided: list[str]
    confirmed: bool
    probes: int
    rounds: int
    jobs: int
    scope: int  # how many units were searched (fewer in --random-split mode)
    records: list[ProbeRecord]

    @property
    def information_bound(self) -> float:
        """log2 C(n, k): the bits that name which k of the n units are culprits."""
        k = sum(len(group) for group in self.culprits)
        return math.log2(math.comb(self.scope, k)) if k <= self.scope else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "culprits": [group[0] if len(group) == 1 else list(group) for group in self.culprits],
            "probes": self.probes,
            "rounds": self.rounds,
            "jobs": self.jobs,
            "units": len(self.units),
            "searched": self.scope,
            "undecided": self.undecided,
            "confirmed": self.confirmed,
            "information_bound": round(self.information_bound, 2),
            "undecided_probes": [
                {"size": r.size, "reason": r.reason, "tries": r.tries}
                for r in self.records
                if r.verdict is bisect.Verdict.UNDECIDED
            ],
        }


def run_bisect(
    units: list[str],
    settings: ProbeSettings,
    jobs: int = 1,
    first: list[int] | None = None,
    progress: Callable[[str], None] | None = None,
) -> BisectReport:
    runner = ProbeRunner(units, settings, jobs, progress)
    try:
        outcome = engine.run(len(units), runner, jobs, first)
    except bisect.SanityFailure as exc:
        raise HarnessError(sanity_message(exc, runner.records)) from exc
    return BisectReport(
        units=units,
        culprits=[tuple(units[i] for i in group) for group in outcome.culprits],
        undecided=[units[i] for i in outcome.undecided],
        confirmed=outcome.confirmed,
        probes=outcome.probes,
        rounds=outcome.rounds,
        jobs=jobs,
        scope=len(first) if first is not None and outcome.scoped else len(units),
        records=runner.records,
    )


def sanity_message(exc: bisect.SanityFailure, records: list[ProbeRecord]) -> str:
    empty, full = [*records, None, None][:2]
    if exc.empty is not bisect.Verdict.GOOD:
        why = empty.reason if empty else exc.empty.value
        return (
            f"sanity: the probe does not pass with every unit from the oracle ({why}); "
            "fix the oracle build or the --probe command before bisecting"
        )
    why = full.reason if full else exc.full.value
    if exc.full is bisect.Verdict.GOOD:
        return "sanity: the probe passes with every unit from the candidate (exit 0); there is nothing to bisect"
    return f"sanity: the probe cannot judge the all-candidate build ({why}); make it exit 1 when the build breaks"
