"""Judging one push: commit NEW against the old tip OLD of an upstream, with the pusher's role.

``judge_push`` is the gate's one decision, shared by the pre-receive hook, the pre-push check
and (issue 14) the merge queue: it reads nothing from the hook's stdin and writes nothing but
baselines it had to measure for the old tip. It returns a ``Decision``: refused (a headline
and ERROR lines) or accepted (the new tip's baseline, to be stored when the tip lands).

The order: path rules first (no test runs for a refusal they can decide), then the suite
in tree A (the old tip's verifier laid over the pushed code: every existing test in its old
form), then the new and changed tests in tree B (the pushed tests, the old infrastructure),
then the ratchet, the changed-test rule and acceptance. See docs/gate.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from harness.config import (
    CONFIG_NAME,
    GateSettings,
    SuiteSettings,
    parse_config,
    read_gate_settings,
    read_suite_settings,
)
from harness.errors import ConfigError
from harness.gate import acceptance
from harness.gate.baseline import Baseline, Judgement, judge, next_baseline
from harness.gate.paths import (
    SYMLINK,
    PathChange,
    is_lock_only,
    lock_dir_errors,
    path_changes,
    symlink_errors,
    task_dir_errors,
)
from harness.gate.runs import GateSite, baseline_for, inherited, keep_log, new_forms, run_in
from harness.gate.testrules import changed_test_errors, file_diffs, settle, tests_in, who_may
from harness.gate.verifier import Listing, Plan, Verifier, list_tree, overlay, plan
from harness.git.repo import GitRepo
from harness.tasks.specs import TaskSpec, spec_path
from harness.testing import output
from harness.testing.model import RunResult, UntrustedRun

Say = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class Decision:
    tip: str
    headline: str = ""  # non-empty: refused
    errors: tuple[str, ...] = ()  # the ERROR lines (and the log's path) the pusher must see
    skipped: str = ""  # why no tests ran ("lock-only push"), else ""
    verdict: Judgement | None = None
    run: RunResult | None = None
    baseline: Baseline | None = None  # the new tip's, to store when it lands; None: measure it later
    note: str = ""  # how to read the counts (a push that changes the verifier)

    @property
    def ok(self) -> bool:
        return not self.headline


@dataclass(frozen=True)
class GateConfig:
    suite: SuiteSettings
    gate: GateSettings
    runs_tests: bool  # harness.yaml has a tests: section


def settings_at(repo: GitRepo, tip: str) -> GateConfig:
    """The tests/gate config as committed at ``tip`` — never the pushed content's."""
    blob = repo.read_blobs(tip, [CONFIG_NAME]).get(CONFIG_NAME)
    config = parse_config(blob, f"{tip[:12]}:{CONFIG_NAME}")
    return GateConfig(read_suite_settings(config), read_gate_settings(config), bool(config.raw.get("tests")))


def quick_judgement(
    repo: GitRepo, old: str | None, new: str, changes: Sequence[PathChange] | None = None
) -> Decision | None:
    """What needs no configuration and no tests: main only moves forward, current_tasks/
    holds only locks, lock-only pushes pass. None: the push needs the full judgement."""
    if old is not None and not repo.is_ancestor(old, new):
        return Decision(
            tip=new,
            headline="refused: main only moves forward (this push is not a fast-forward)",
            errors=(
                f"ERROR {new[:12]}: does not contain the tip {old[:12]}; fetch, merge and push again (never force)",
            ),
        )
    changes = path_changes(repo, old, new) if changes is None else changes
    lines = lock_dir_errors(changes)
    if lines:
        return Decision(tip=new, headline="refused: current_tasks/ holds only lock files", errors=tuple(lines))
    lines = task_dir_errors(changes)
    if lines:
        return Decision(tip=new, headline="refused: tasks/ holds only task specs", errors=tuple(lines))
    if is_lock_only(changes):
        return Decision(tip=new, skipped="lock-only push" if changes else "no file changed")
    return None


def judge_push(site: GateSite, old: str | None, new: str, say: Say) -> Decision:
    """The verdict on moving main from ``old`` to ``new`` for a push by ``site.role``."""
    try:
        return _judge(site, old, new, say)
    except UntrustedRun as exc:  # a run the sandbox or the report cannot vouch for: never a pass
        lines = [f"ERROR (run): {problem}" for problem in exc.problems]
        return Decision(tip=new, headline="refused: the test run cannot be trusted", errors=(*lines, f"log: {exc.log}"))


def _judge(site: GateSite, old: str | None, new: str, say: Say) -> Decision:
    changes = path_changes(site.repo, old, new)
    quick = quick_judgement(site.repo, old, new, changes)
    if quick is not None:
        return quick
    config = _config(site, old, new, say)
    if old is None:  # a first push: nothing to compare with, everything is new
        return _run_new_branch(site, new, config, say) if config.runs_tests else Decision(tip=new, skipped="no tests")
    listing = list_tree(site.repo, old)
    verifier = Verifier.at(config.suite, config.gate, list(listing))
    work = plan(verifier, site.repo, old, new, changes, listing)
    specs = acceptance.spec_changes(site.repo, old, new, changes)
    refusal = _path_rules(site, config.gate, verifier, work, specs, changes, new, old, listing)
    if refusal is not None:
        return refusal
    if CONFIG_NAME in (c.path for c in changes):
        invalid = _invalid_config(site, new)
        if invalid is not None:
            return invalid
    done = acceptance.marked_done(specs)
    if done and not config.runs_tests:
        lines = [f"ERROR {spec_path(s.id)}: names accept: tests, but harness.yaml configures no tests:" for s in done]
        return Decision(
            tip=new, headline="refused: acceptance tests cannot run without a tests: section", errors=tuple(lines)
        )
    if not config.runs_tests:
        return Decision(tip=new, skipped="no tests configured at the old tip")
    if not done and acceptance.spec_only(changes, specs):
        # Task specs and locks only: no code, no test changed, so the old tip's baseline holds.
        return Decision(tip=new, skipped="spec-only push", baseline=inherited(site, old, new))
    return _run_and_judge(site, old, new, config, verifier, work, done, say)


def _config(site: GateSite, old: str | None, new: str, say: Say) -> GateConfig:
    try:
        return settings_at(site.repo, old or new)
    except ConfigError:
        # A broken harness.yaml at the tip must stay fixable: only a default-protected role
        # (lead) may push the fix, tested with the pushed config.
        if old is None or site.role not in GateSettings().protected_roles:
            raise
        say("gate: harness.yaml at the old tip is unreadable; testing this lead push with the pushed config")
        return settings_at(site.repo, new)


def _path_rules(
    site: GateSite,
    gate: GateSettings,
    verifier: Verifier,
    work: Plan,
    specs: Sequence[acceptance.SpecChange],
    changes: Sequence[PathChange],
    new: str,
    old: str,
    listing: Listing,
) -> Decision | None:
    role = site.role
    lines: list[str] = []
    if role not in gate.protected_roles:
        allowed = ", ".join(gate.protected_roles) or "no role"
        how = f"; a {gate.protected_roles[0]} pushes with HARNESS_ROLE={gate.protected_roles[0]} git push"
        lines += [
            f"ERROR {p}: protected path; only {allowed} may change it (this push: role {role or 'none'})"
            + (how if gate.protected_roles else "")
            for p in work.protected
        ]
    lines += symlink_errors(site.repo, new, changes, list(listing))
    lines += [
        f"ERROR {c.path}: a symlink in the verifier; commit the file itself"
        for c in changes
        if c.new_mode == SYMLINK and verifier.kind(c.path) is not None
    ]
    if role not in gate.test_roles:
        lines += [
            f"ERROR {p}: test infrastructure {_how(p, changes)} by this push (not used for this run); "
            f"{who_may(gate.test_roles)}"
            for p in work.infrastructure
        ]
    lines += acceptance.accept_edit_errors(specs, role, gate.test_roles)
    if not lines:
        return None
    return Decision(
        tip=new,
        headline=f"refused: the push changes what judges it, which role {role or 'none'} may not change",
        errors=tuple(lines),
    )


def _how(path: str, changes: Sequence[PathChange]) -> str:
    change = next(c for c in changes if c.path == path)
    return "added" if change.added else "deleted" if change.deleted else "changed"


def _invalid_config(site: GateSite, new: str) -> Decision | None:
    """A push may not leave a harness.yaml on main that the next push cannot read."""
    try:
        settings_at(site.repo, new)
    except ConfigError as exc:
        return Decision(
            tip=new, headline="refused: the pushed harness.yaml is invalid", errors=(f"ERROR {CONFIG_NAME}: {exc}",)
        )
    return None


def _run_new_branch(site: GateSite, new: str, config: GateConfig, say: Say) -> Decision:
    tree = overlay(site.repo, new, {}, site.scratch / f"tree-{new[:12]}")
    run = run_in(site, tree, config.suite, f"gate-{new[:12]}", say)
    verdict = judge(
        Baseline("0" * 40, frozenset()),
        run,
        lambda ids: run_in(site, tree, config.suite, "rerun", None, ids),
        config.gate,
    )
    return Decision(tip=new, verdict=verdict, run=run, baseline=next_baseline(None, new, verdict))


def _run_and_judge(
    site: GateSite,
    old: str,
    new: str,
    config: GateConfig,
    verifier: Verifier,
    work: Plan,
    done: Sequence[TaskSpec],
    say: Say,
) -> Decision:
    suite, gate = config.suite, config.gate
    tree_a = overlay(site.repo, new, work.old_form, site.scratch / f"tree-{new[:12]}")
    say(f"gate: testing {new[:12]} with the verifier of {old[:12]}")
    run_a = run_in(site, tree_a, suite, f"gate-{new[:12]}", say)
    durable_log = keep_log(site, run_a.log_path)

    def rerun_a(ids: Sequence[str]) -> RunResult:
        say(f"gate: re-running {len(ids)} failing test(s) in their old form")
        return run_in(site, tree_a, suite, f"rerun-{new[:12]}", None, ids)

    run_b, rerun_b = new_forms(site, new, suite, verifier, work, say)
    # Asked for after the runs: a merge queue testing on top of a batch still under test
    # waits here for that batch's result, which is the old tip's baseline (runs.py).
    old_baseline = baseline_for(site, old, suite, say)
    verdict = judge(old_baseline, run_a, rerun_a, gate)
    lines = _regression_lines(run_a, verdict, suite)
    headlines = []
    if verdict.regressions:
        headlines.append(f"{len(verdict.regressions)} test(s) that passed at {old_baseline.tip[:12]} now fail")
    if site.role not in gate.test_roles and work.changed_tests:
        diffs = file_diffs(verifier, site.repo, old, new, work.changed_tests)
        changed = changed_test_errors(verifier, diffs, run_a, run_b, (rerun_a, rerun_b, gate.reruns), gate.test_roles)
        lines += changed
        if changed:
            headlines.append(f"{len(changed)} changed test(s) the push may not change")
    accept_lines = _acceptance(done, run_a, run_b, rerun_a, gate)
    if accept_lines:
        tasks = sorted({s.id for s in done})
        headlines.append(f"task(s) {', '.join(tasks)} marked done while acceptance tests fail")
        lines += accept_lines
    if headlines:
        return Decision(
            tip=new, headline="refused: " + "; ".join(headlines), errors=(*lines, f"log: {durable_log}"), run=run_a
        )
    landing = _with_new_forms(old_baseline, verdict, verifier, work, run_b)
    if work.infrastructure or (CONFIG_NAME in work.protected and _suite_changed(site, new, config)):
        # The push changes how tests run: what passed under the old verifier says little
        # about the new one, so the next push measures the new tip under its own.
        say(f"gate: the verifier changed; the baseline of {new[:12]} will be measured at the next push")
        note = "under the old tip's verifier; the new one applies from the next push"
        return Decision(tip=new, verdict=landing, run=run_a, note=note)
    return Decision(tip=new, verdict=landing, run=run_a, baseline=next_baseline(old_baseline, new, landing))


def _regression_lines(run: RunResult, verdict: Judgement, suite: SuiteSettings) -> list[str]:
    if verdict.ok:
        return []
    lines = output.error_lines(run, verdict.regressions, suite.max_errors)
    return [ln for ln in lines if ln.startswith("ERROR (run)") or "regression:" in ln or ln.startswith("...")]


def _acceptance(
    done: Sequence[TaskSpec],
    run_a: RunResult,
    run_b: RunResult,
    rerun_a: Callable[[Sequence[str]], RunResult],
    gate: GateSettings,
) -> list[str]:
    if not done:
        return []
    wanted = {t for s in done for entry in s.accept for t in acceptance.matching(entry, run_a.results)}
    settled = replace(run_a, results=settle(run_a.results, wanted, rerun_a, gate.reruns))
    return acceptance.acceptance_errors(done, settled, run_b.results)


def _with_new_forms(old: Baseline, verdict: Judgement, verifier: Verifier, work: Plan, run_b: RunResult) -> Judgement:
    """The verdict as the new tip will see it: tests in changed, added or deleted test files
    count in their pushed form (tree B), every other test as it ran in tree A."""
    touched = {*work.changed_tests, *work.added_tests}
    kept = {t for t in verdict.passed if verifier.file_of(t) not in touched}
    passed = frozenset(kept | (run_b.passed() & set(tests_in(verifier, run_b.results, touched))))
    return replace(verdict, passed=passed, new_passes=tuple(sorted(passed - old.passed)))


def _suite_changed(site: GateSite, new: str, config: GateConfig) -> bool:
    return settings_at(site.repo, new).suite != config.suite
