"""Where and how the gate runs tests: its site, the one call that runs a suite in a tree,
the pushed-form run of new and changed tests (tree B), and the baselines it reads or has to
measure. How a run is isolated is decided in ``run_in`` and below it (testing/).

``run_in`` runs in the site's sandbox (harness/runtime/sandbox.py; docs/gate.md, "Isolation"),
raises UntrustedRun for a run whose report cannot be trusted (check.py refuses the push), and
journals every run in ``<state>/gate-runs.jsonl``: when, which run (``gate-<tip>``,
``baseline-<tip>``, ``rerun-…``, ``gate-b-…``), whether it ran the full suite, how many tests,
how long, under which isolation, trusted or not. "One suite run per landed push" is counted
there (benchmarks/gate.py, tests/test_gate_isolation.py).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from harness.config import SuiteSettings
from harness.gate import lineage
from harness.gate.baseline import Baseline, BaselineStore
from harness.gate.testrules import tests_in
from harness.gate.verifier import Plan, Verifier, overlay
from harness.git.repo import GitRepo
from harness.runtime.sandbox import Sandbox
from harness.testing.model import RunResult, UntrustedRun
from harness.testing.suite import list_tests, run_suite

Say = Callable[[str], None]
Rerun = Callable[[Sequence[str]], RunResult]
JOURNAL = "gate-runs.jsonl"


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True, kw_only=True)
class GateSite:
    """Where a gate check reads objects, keeps baselines and writes its scratch files."""

    repo: GitRepo  # can read the old and the new commit (in a hook: the quarantine too)
    stores: tuple[BaselineStore, ...]  # read in order
    write: BaselineStore  # where this site records baselines it measured
    scratch: Path
    role: str
    protect: tuple[Path, ...] = ()  # what the sandboxed tests must not write: the upstream, a clone
    isolate: bool = True  # False only to measure what the sandbox costs (benchmarks/gate_isolation.py)
    say: Say = _quiet  # where the sandbox reports: its WARNING, processes that outlived a run
    # A baseline another check is measuring now (the merge queue's batch under test, whose
    # head the next batch is built on): waits for it; None when there is none to wait for.
    pending: Callable[[str], Baseline | None] | None = None

    @cached_property
    def sandbox(self) -> Sandbox | None:
        """One per check (a site lives for one): probed once, its WARNING said once."""
        return Sandbox(self.protect, self.say) if self.isolate else None

    @property
    def journal(self) -> Path:
        return self.write.directory.parent / JOURNAL


def run_in(
    site: GateSite,
    tree: Path,
    suite: SuiteSettings,
    name: str,
    say: Say | None,
    only: Sequence[str] | None = None,
    *,
    untrusted_ok: bool = False,
) -> RunResult:
    """One test run of the gate (the one place that says how the gate runs tests): in the
    site's sandbox, journaled. A run that cannot be trusted raises UntrustedRun (with the
    log kept), unless ``untrusted_ok``: then its ``problems`` say so."""
    run = run_suite(tree, suite, site.scratch / f"{name}.log", only=only, say=say, sandbox=site.sandbox)
    entry = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "run": name,
        "full": only is None,  # the whole suite, not a re-run or the pushed forms of some tests
        "tests": len(run.selected),
        "seconds": round(run.seconds, 3),
        "isolation": site.sandbox.isolation.mode.value if site.sandbox else "off",
        "trusted": not run.problems,
    }
    site.journal.parent.mkdir(parents=True, exist_ok=True)
    with site.journal.open("a", encoding="utf-8") as handle:  # one short append: runs in parallel interleave lines
        handle.write(json.dumps(entry) + "\n")
    if run.problems and not untrusted_ok:
        raise UntrustedRun(run.problems, list(run.results.values()), log=keep_log(site, run.log_path))
    return run


def read_journal(path: Path) -> list[dict[str, object]]:
    """The journal's entries, oldest first (none when it does not exist)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


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
    listed = list_tests(tree_b, suite, site.sandbox)  # collecting runs pushed code too: in the sandbox
    ids = tests_in(verifier, listed or [], files)
    if not ids:
        return empty, rerun_b
    say(f"gate: running {len(ids)} new or changed test(s) in their pushed form")
    return run_in(site, tree_b, suite, f"gate-b-{new[:12]}", None, ids), rerun_b


def baseline_for(site: GateSite, old: str | None, suite: SuiteSettings, say: Say) -> Baseline:
    """The old tip's trusted baseline: stored, inherited through lock-only commits, or measured."""
    if old is None:
        return Baseline("0" * 40, frozenset())
    stores = (*site.stores, site.write)
    for store in stores:
        checked = store.check(old)
        if checked.baseline is not None:
            return checked.baseline
        if checked.problem:  # never trusted: measured again below
            say(f"gate: {checked.problem}; measuring {old[:12]} again")
    found = lineage.inherited(site.repo, old, lambda tip: next((b for s in stores if (b := s.load(tip))), None))
    if found is not None:
        say(f"gate: {old[:12]} changed only lock files; it inherits the baseline of the tip it was claimed on")
        site.write.save(found)
        return found
    awaited = site.pending(old) if site.pending is not None else None
    if awaited is not None:
        return awaited
    # First gated push after install (or a tip made before the gate): measure the old tip.
    say(f"gate: no baseline for {old[:12]} yet; running the suite there once")
    tree = overlay(site.repo, old, {}, site.scratch / f"tree-{old[:12]}")
    run = run_in(site, tree, suite, f"baseline-{old[:12]}", say, untrusted_ok=True)
    baseline = Baseline(old, frozenset(run.passed()))
    if run.problems:
        # The old tip is landed work no pusher controls: refusing here would refuse every push
        # until someone repaired main. Judge by what did pass; keep no baseline of it.
        log = keep_log(site, run.log_path)
        for problem in run.problems:
            say(f"WARNING gate: the baseline run of {old[:12]} is incomplete: {problem}")
        say(f"WARNING gate: judging against the {len(baseline.passed)} test(s) that did pass there; log: {log}")
        return baseline
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
