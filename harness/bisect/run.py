"""``harness bisect`` below the CLI: read the units, drive the search with the probe
runner, turn the outcome into a report and, on request, into task specs."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.bisect import engine
from harness.bisect import search as bisect
from harness.bisect.probe import ProbeRecord, ProbeRunner, ProbeSettings
from harness.errors import ConfigError, HarnessError
from harness.locks.lockfile import TASK_ID_MAX, validate_task_id
from harness.tasks.specs import TASK_DIR, TaskSpec, parse_spec, spec_path


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


# -- task specs ------------------------------------------------------------------


def task_id_for(prefix: str, group: Sequence[str]) -> str:
    slug = "--".join(re.sub(r"[^a-z0-9._-]+", "-", unit.lower()).strip("-._") for unit in group)
    task = f"{prefix}-{slug}".strip("-")[:TASK_ID_MAX].rstrip("-._")
    return validate_task_id(task)


def culprit_specs(report: BisectReport, command: str, prefix: str = "bisect") -> list[TaskSpec]:
    """One spec per culprit (or group failing together), ready to be claimed."""
    specs: list[TaskSpec] = []
    used: set[str] = set()
    for group in report.culprits:
        task = task_id_for(prefix, group)
        base, n = task, 2
        while task in used:
            task, n = f"{base[: TASK_ID_MAX - 4]}-{n}", n + 1
        used.add(task)
        together = " together" if len(group) > 1 else ""
        listing = "\n".join(group)
        title = f"Candidate miscompiles {' + '.join(group)}{together} (oracle build passes)"
        body = (
            f"`harness bisect` found that building {' and '.join(group)} with the candidate tool{together}, "
            "and everything else with the oracle, fails the probe; with only the other units from the "
            "candidate it passes.\n\nReproduce:\n\n"
            f"    printf '%s\\n' {' '.join(_sh_quote(u) for u in group)} > candidate.txt\n"
            f"    HARNESS_BISECT_CANDIDATE=$PWD/candidate.txt sh -c {_sh_quote(command)}\n\n"
            f"Candidate units:\n{listing}\n"
        )
        specs.append(TaskSpec(id=task, title=title[:200], body=body))
    return specs


def write_specs(repo: Path, specs: list[TaskSpec]) -> list[Path]:
    """Write ``tasks/<id>.yaml`` files; an existing spec of the same id is left alone."""
    target = repo / TASK_DIR
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in specs:
        path = repo / spec_path(spec.id)
        parse_spec(spec_path(spec.id), spec.to_yaml())  # the validation a hand-written spec gets
        if path.exists():
            continue
        path.write_bytes(spec.to_yaml())
        written.append(path)
    return written


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
