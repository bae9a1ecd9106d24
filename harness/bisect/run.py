"""``harness bisect`` below the CLI: read the units, drive the search with the probe
runner, turn the outcome into a report and, on request, into task specs."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.bisect import engine
from harness.bisect.confirm import Contradiction, Group
from harness.bisect.engine import SearchResult
from harness.bisect.probe import ProbeRecord, ProbeRunner, ProbeSettings
from harness.bisect.search import SanityFailure, Verdict
from harness.errors import ConfigError, SanityFailed


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
    outcome: SearchResult
    jobs: int
    scope: int  # how many units were searched (fewer in --random-split mode)
    records: list[ProbeRecord]
    logs: Path | None = None

    def named(self, groups: Sequence[Group]) -> list[tuple[str, ...]]:
        return [tuple(self.units[i] for i in group) for group in groups]

    @property
    def culprits(self) -> list[tuple[str, ...]]:
        return self.named(self.outcome.culprits)

    @property
    def suspects(self) -> list[tuple[str, ...]]:
        return self.named(self.outcome.suspects)

    @property
    def undecided(self) -> list[str]:
        return [self.units[i] for i in self.outcome.undecided]

    @property
    def confirmed(self) -> bool:
        return self.outcome.confirmed

    @property
    def probes(self) -> int:
        """Probes run, confirmation included; cached answers are counted apart."""
        return sum(1 for r in self.records if not r.cached)

    @property
    def cached(self) -> int:
        return sum(1 for r in self.records if r.cached)

    @property
    def information_bound(self) -> float:
        return information_bound(self.scope, self.outcome.culprits or self.outcome.suspects)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.outcome.status,
            "culprits": as_json(self.culprits),
            "suspects": as_json(self.suspects),
            "undecided": self.undecided,
            "confirmed": self.confirmed,
            "nondeterministic": self.outcome.nondeterministic,
            "contradictions": [self.contradiction_json(c) for c in self.outcome.contradictions],
            "probes": self.probes,
            "cached": self.cached,
            "confirmation_probes": self.outcome.confirmation_probes,
            "rounds": self.outcome.rounds,
            "jobs": self.jobs,
            "units": len(self.units),
            "searched": self.scope,
            "information_bound": round(self.information_bound, 2),
            "undecided_probes": [
                {"probe": r.number, "size": r.size, "reason": r.reason, "tries": r.tries}
                for r in self.records
                if r.verdict is Verdict.UNDECIDED
            ],
            "logs": str(self.logs) if self.logs else None,
        }

    def contradiction_json(self, contradiction: Contradiction) -> dict[str, Any]:
        probes = [r for r in self.records if r.subset == contradiction.subset]
        return {
            "finding": contradiction.finding.value,
            "expected": contradiction.expected.value,
            **describe(self.units, contradiction.subset),
            "probes": [
                {"probe": r.number, "verdict": r.verdict.value, "reason": r.reason, "cached": r.cached, "log": r.log}
                for r in probes
            ],
        }


def as_json(groups: list[tuple[str, ...]]) -> list[str | list[str]]:
    return [group[0] if len(group) == 1 else list(group) for group in groups]


def describe(units: Sequence[str], subset: frozenset[int]) -> dict[str, Any]:
    """A subset by its units, or by the units it leaves out when that list is shorter."""
    if len(subset) <= len(units) - len(subset):
        return {"size": len(subset), "candidate": [units[i] for i in sorted(subset)]}
    return {"size": len(subset), "all_but": [units[i] for i in range(len(units)) if i not in subset]}


def information_bound(n: int, groups: Sequence[Group]) -> float:
    """log2 of how many answers of this shape n units allow: which units are culprits and
    how they group (a pair among n is one of C(n,2); two pairs among four units can be
    formed three ways). For single culprits this is log2 C(n,k)."""
    k = sum(len(g) for g in groups)
    if not groups or k > n:
        return 0.0
    ways = math.perm(n, k)
    for group in groups:
        ways //= math.factorial(len(group))
    for alike in Counter(len(g) for g in groups).values():
        ways //= math.factorial(alike)
    return math.log2(ways)


def run_bisect(
    units: list[str],
    settings: ProbeSettings,
    jobs: int = 1,
    first: list[int] | None = None,
    progress: Callable[[str], None] | None = None,
    retries: int = 2,
) -> BisectReport:
    runner = ProbeRunner(units, settings, jobs, progress)
    try:
        outcome = engine.run(len(units), runner, jobs, first, fresh=runner.fresh, cached=runner.cached, retries=retries)
    except SanityFailure as exc:
        raise SanityFailed(sanity_message(exc, runner.records)) from exc
    if outcome.contradictions:  # what fresh probes contradicted decides nothing in a later run
        runner.forget([c.subset for c in outcome.contradictions])
    return BisectReport(
        units=units,
        outcome=outcome,
        jobs=jobs,
        scope=len(first) if first is not None and outcome.scoped else len(units),
        records=runner.records,
        logs=settings.logs,
    )


def sanity_message(exc: SanityFailure, records: list[ProbeRecord]) -> str:
    empty, full = [*records, None, None][:2]
    if exc.empty is not Verdict.GOOD:
        why = empty.reason if empty else exc.empty.value
        return (
            f"sanity: the probe does not pass with every unit from the oracle ({why}); "
            "fix the oracle build or the --probe command before bisecting"
        )
    why = full.reason if full else exc.full.value
    if exc.full is Verdict.GOOD:
        return "sanity: the probe passes with every unit from the candidate (exit 0); there is nothing to bisect"
    return f"sanity: the probe cannot judge the all-candidate build ({why}); make it exit 1 when the build breaks"


def undecided_message(report: BisectReport) -> str:
    """One line: why there is no answer to trust, and what to do."""
    outcome = report.outcome
    if outcome.contradictions:
        findings = sorted({c.finding.value for c in outcome.contradictions})
        numbers = [str(r.number) for c in outcome.contradictions for r in report.records if r.subset == c.subset]
        shown = ", ".join(numbers[:8]) + (" ..." if len(numbers) > 8 else "")
        listed = "no culprit is reported"
        if report.culprits:
            listed = "the culprits listed are confirmed, the suspects are not"
        return (
            f"undecided: {'; '.join(findings)} (probes {shown}); {listed} — make the probe deterministic "
            "(or pass --cache-key/--candidate when the candidate changed) and rerun"
        )
    if report.undecided:
        shown = ", ".join(report.undecided[:5]) + (" ..." if len(report.undecided) > 5 else "")
        return (
            f"undecided: the probe could not tell for {len(report.undecided)} unit(s) ({shown}); "
            "the culprits above are confirmed, these are not — fix the probe (exit 125/crash/timeout) and rerun"
        )
    return "undecided: the probe could not tell on the last probes; rerun with a larger --timeout"
