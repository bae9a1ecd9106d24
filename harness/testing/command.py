"""``harness test`` for one agent in its clone: sample, run, remember, compare, report.

The agent's last failures are kept in ``.git/harness/tests/last-<agent>.json`` and always
join the next ``--fast`` sample, so a fix is confirmed by the very test that failed. When
the upstream tip's baseline is at hand, a failing test that passed there is marked as a
regression (no extra run: the gate does the re-runs).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import read_suite_settings
from harness.errors import ConfigError
from harness.gate.baseline import BaselineStore
from harness.testing import output
from harness.testing.model import RunResult
from harness.testing.sample import check_fraction
from harness.testing.suite import Say, run_suite
from harness.workspace import Workspace


@dataclass(frozen=True)
class AgentReport:
    run: RunResult
    lines: list[str]
    json: dict[str, Any]


def run_for_agent(
    ws: Workspace, fast: bool, fraction: float | None, seed: str | None, say: Say, who: str | None = None
) -> AgentReport:
    """``who``: whose sample this is (the seed's default and the key of the last failures):
    the agent, or for a person their git identity (``person``), so a person's ``--fast``
    compares like with like from run to run as an agent's does."""
    if "tests" not in ws.config.raw:
        from harness.resources import doc_path

        raise ConfigError(
            f"{ws.config.path}: no tests configured; add a `tests:` section (runner: pytest, files or junit), "
            f"see {doc_path('config.md') or 'docs/config.md'}"
        )
    settings = read_suite_settings(ws.config)
    chosen = check_fraction(fraction if fraction is not None else settings.fast_fraction) if fast else None
    who = who or ws.agent
    state = ws.state_dir / "tests"
    key = re.sub(r"[^A-Za-z0-9._-]+", "_", who)
    last = state / f"last-{key}.json"
    log = state / f"{key}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    run = run_suite(ws.root, settings, log, fraction=chosen, seed=seed or who, always=_last_failures(last), say=say)
    _remember(last, run)
    regressions = _regressions(ws, run)
    lines = output.report_lines(run, regressions, max_errors=settings.max_errors)
    return AgentReport(run, lines, output.to_json(run, regressions))


def person(ws: Workspace) -> str | None:
    """A person's identity for their sample: git's user.email, else user.name."""
    for key in ("user.email", "user.name"):
        found = ws.repo.run("config", "--get", key, check=False)
        if found.returncode == 0 and found.stdout.strip():
            return found.stdout.decode(errors="replace").strip()
    return None


def _last_failures(path: Path) -> list[str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []  # no previous run (or a damaged record): nothing to force in
    failed = data.get("failed", []) if isinstance(data, dict) else []
    return [str(t) for t in failed] if isinstance(failed, list) else []


def _remember(path: Path, run: RunResult) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"failed": sorted(r.id for r in run.failures())}) + "\n", encoding="utf-8")


def _regressions(ws: Workspace, run: RunResult) -> dict[str, str]:
    from harness.git.upstream import local_upstream_path

    tip = ws.repo.rev_parse(f"refs/remotes/origin/{ws.config.branch}")
    if tip is None:
        return {}
    upstream = local_upstream_path(ws.repo)
    stores = [BaselineStore(upstream / "harness" / "baseline", advisory=True)] if upstream else []
    stores.append(BaselineStore(ws.state_dir / "baseline"))
    for store in stores:
        baseline = store.load(tip)
        if baseline is not None:
            return {
                r.id: f"passed at {tip[:12]}, now {r.outcome.value}" + (f": {r.reason}" if r.reason else "")
                for r in run.failures()
                if r.id in baseline.passed
            }
    return {}
