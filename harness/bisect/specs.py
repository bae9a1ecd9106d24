"""Task specs from a bisection: one per culprit, with a recipe that reproduces it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from harness.bisect.run import BisectReport
from harness.locks.lockfile import TASK_ID_MAX, validate_task_id
from harness.tasks.specs import TASK_DIR, TaskSpec, parse_spec, spec_path


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
