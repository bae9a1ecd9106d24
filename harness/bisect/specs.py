"""Task specs from a bisection: one per culprit, with a recipe that reproduces it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from harness.bisect.run import BisectReport
from harness.errors import UsageError
from harness.git.repo import GitRepo
from harness.locks.lockfile import TASK_ID_MAX, validate_task_id
from harness.tasks.specs import TASK_DIR, TaskSpec, parse_spec, spec_path


def task_id_for(prefix: str, group: Sequence[str]) -> str:
    slug = "--".join(re.sub(r"[^a-z0-9._-]+", "-", unit.lower()).strip("-._") for unit in group)
    task = f"{prefix}-{slug}".strip("-")[:TASK_ID_MAX].rstrip("-._")
    return validate_task_id(task)


def culprit_specs(report: BisectReport, command: str, cwd: Path, prefix: str = "bisect") -> list[TaskSpec]:
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
            "candidate it passes. Each was confirmed by probes run again after the search.\n\n"
            "Reproduce (paste into a shell; it runs the probe as `harness bisect` ran it: same command, "
            "working directory and variables, a fresh scratch directory; exit status 1-127 = fails, "
            "0 = passes):\n\n"
            f"{recipe(command, cwd, group)}\n"
            f"Candidate units:\n{listing}\n"
        )
        specs.append(TaskSpec(id=task, title=title[:200], body=body))
    return specs


def recipe(command: str, cwd: Path, group: Sequence[str]) -> str:
    """Shell lines (indented as a code block) that run ``command`` on ``group`` as a probe.
    The rest of the environment is the shell's: `harness bisect` passed its own through."""
    lines = [
        "(",
        f"  cd {_sh_quote(str(cwd.resolve()))} || exit 2",
        '  HARNESS_BISECT_SCRATCH="$(mktemp -d)" || exit 2',
        '  HARNESS_BISECT_CANDIDATE="$HARNESS_BISECT_SCRATCH/candidate.txt" HARNESS_BISECT_SLOT=0',
        "  export HARNESS_BISECT_SCRATCH HARNESS_BISECT_CANDIDATE HARNESS_BISECT_SLOT",
        f"  printf '%s\\n' {' '.join(_sh_quote(u) for u in group)} > \"$HARNESS_BISECT_CANDIDATE\"",
        '  echo "probe scratch: $HARNESS_BISECT_SCRATCH" >&2',
        f"  exec /bin/sh -c {_sh_quote(command)}",
        ")",
    ]
    return "".join(f"    {line}\n" for line in lines)


def task_repo(path: Path) -> Path:
    """The work repo's clone that gets the specs: ``path`` or the clone around it."""
    proc = GitRepo(path).run("rev-parse", "--show-toplevel", check=False) if path.is_dir() else None
    if proc is None or proc.returncode != 0:
        raise UsageError(
            f"--emit-tasks: {path.resolve()} is not in a git clone; pass --repo CLONE (the work repo's clone) "
            "for the task specs"
        )
    return Path(proc.stdout.decode().strip())


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
