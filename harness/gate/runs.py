"""Where and how the gate runs tests: its site, the one call that runs a suite in a tree,
the pushed-form run of new and changed tests (tree B), and the baselines it reads or has to
measure. How a run is isolated is decided in ``run_in`` and below it (testing/).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.config import SuiteSettings
from harness.gate.baseline import Baseline, BaselineStore
from harness.gate.testrules import tests_in
from harness.gate.verifier import Plan, Verifier, overlay
from harness.git.repo import GitRepo
from harness.testing.model import RunResult
from harness.testing.runners import make_runner
from harness.testing.suite import run_suite

Say = Callable[[str], None]
Rerun = Callable[[Sequence[str]], RunResult]


@dataclass(frozen=True, kw_only=True)
class GateSite:
    """Where a gate check reads objects, keeps baselines and writes its scratch files."""

    repo: GitRepo  # can read the old and the new commit (in a hook: the quarantine too)
    stores: tuple[BaselineStore, ...]  # read in order
    write: BaselineStore  # where this site records baselines it measured
    scratch: Path
    role: str


def run_in(
    site: GateSite, tree: Path, suite: SuiteSettings, name: str, say: Say | None, only: Sequence[str] | None = None
) -> RunResult:
    """One test run of the gate (the one place that says how the gate runs tests)."""
    return run_suite(tree, suite, site.scratch / f"{name}.log", only=only, say=say)


def new_forms(
    site: GateSite, new: str, suite: SuiteSettings, verifier: Verifier, work: Plan, say: Say
) -> tuple[RunResult, Rerun]:
    """Tree B: the pushed tests (new ones, and the new forms of changed ones) over the
    old tip's infrastructure; only their ids are run."""
    files = [*work.changed_tests, *work.added_tests]
    tree_b = overlay(site.repo, new, work.new_tests, site.scratch / f"tree-b-{new[:12]}") if files else None

    def rerun_b(ids: Sequence[str]) -> RunResult:
        assert tree_b is not None
        return run_in(site, tree_b, suite, f"rerun-b-{new[:12]}", None, ids)

    empty = RunResult(results={}, selected=(), log_path=site.scratch / "none.log", seconds=0.0)
    if tree_b is None:
        return empty, rerun_b
    listed = make_runner(suite).list_tests(tree_b)  # collection runs pushed code too: isolate it like run_in
    ids = tests_in(verifier, listed or [], files)
    if not ids:
        return empty, rerun_b
    say(f"gate: running {len(ids)} new or changed test(s) in their pushed form")
    return run_in(site, tree_b, suite, f"gate-b-{new[:12]}", None, ids), rerun_b


def baseline_for(site: GateSite, old: str | None, suite: SuiteSettings, say: Say) -> Baseline:
    if old is None:
        return Baseline("0" * 40, frozenset())
    for store in (*site.stores, site.write):
        found = store.load(old)
        if found is not None:
            return found
    # First gated push after install (or a tip made before the gate): measure the old tip.
    say(f"gate: no baseline for {old[:12]} yet; running the suite there once")
    tree = overlay(site.repo, old, {}, site.scratch / f"tree-{old[:12]}")
    run = run_in(site, tree, suite, f"baseline-{old[:12]}", say)
    baseline = Baseline(old, frozenset(run.passed()))
    site.write.save(baseline)
    return baseline


def inherited(site: GateSite, old: str, new: str) -> Baseline | None:
    for store in (*site.stores, site.write):
        found = store.load(old)
        if found is not None:
            return Baseline(new, found.passed, found.flaky)
    return None  # the next push measures it


def keep_log(site: GateSite, log: Path) -> Path:
    """Scratch is deleted after the check; the log the pusher is pointed at must stay."""
    keep = site.write.directory.parent / "logs" / log.name
    keep.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(log, keep)
    return keep
