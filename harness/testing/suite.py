"""One test run end to end: list, sample, run, account for every selected test.

``run_suite`` is what ``harness test``, the pre-push gate and the pre-receive gate call; the
gate passes a sandbox (harness/runtime/sandbox.py), ``harness test`` in an agent's clone does not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from harness.config import SuiteSettings
from harness.errors import ConfigError
from harness.runtime.sandbox import Sandbox
from harness.testing.isolated import IsolatedPytestRunner
from harness.testing.model import Outcome, RunResult, TestResult, UntrustedRun, merge
from harness.testing.runners import Log, Runner, make_runner
from harness.testing.sample import sample

Say = Callable[[str], None]


def run_suite(
    root: Path,
    settings: SuiteSettings,
    log_path: Path,
    *,
    fraction: float | None = None,
    seed: str = "",
    always: Iterable[str] = (),
    only: Sequence[str] | None = None,
    say: Say | None = None,
    sandbox: Sandbox | None = None,
) -> RunResult:
    """Run the suite (or the ``--fast`` sample, or exactly ``only``) in ``root``.

    With a sandbox, a run whose report cannot be trusted comes back with ``problems`` (and
    whatever it reported): the gate refuses such a run, it never counts as a pass."""
    start = time.monotonic()
    runner = _runner(settings, sandbox)
    log = Log(log_path)
    problems: list[str] = []
    listed = runner.list_tests(root) if only is None else list(only)
    selected: list[str] | None
    if only is not None:
        selected = list(only)
    elif listed is not None and fraction is not None:
        selected = sample(listed, seed, fraction, set(always) & set(listed))
    else:
        selected = listed

    def progress(done: int, total: int, failed: int) -> None:
        if say is None:
            return
        elapsed = time.monotonic() - start
        if done < 0:
            say(f"progress: still running, {elapsed:.0f} s")
        else:
            say(f"progress: {done}/{total} done, {failed} failed, {elapsed:.0f} s")

    try:
        results = runner.run(root, selected, log, progress)
    except UntrustedRun as exc:
        problems += [f"untrusted run: {p}" for p in exc.problems]  # the gate names the log it keeps
        results = exc.results
    except ConfigError as exc:
        problems.append(f"{exc} (log: {log_path})")
        results = []
    by_id = merge(results)
    if selected is None:  # junit: the command ran everything; sample what it reported
        all_ids = list(by_id)
        selected = sample(all_ids, seed, fraction, set(always)) if fraction is not None else all_ids
        by_id = {tid: by_id[tid] for tid in selected}
    elif only is not None:  # a command that runs everything: keep what was asked for
        by_id = {tid: by_id[tid] for tid in selected if tid in by_id}
    for tid in selected:
        if tid not in by_id:  # never silently lose a test the run was asked for
            by_id[tid] = TestResult(tid, Outcome.ERROR, f"no result reported; see {log_path}")
    return RunResult(
        results=by_id,
        selected=tuple(selected),
        log_path=log_path,
        seconds=time.monotonic() - start,
        problems=tuple(problems),
        fraction=fraction,
        seed=seed,
        total=len(listed) if listed is not None else len(merge(results)),
    )


def list_tests(root: Path, settings: SuiteSettings, sandbox: Sandbox | None = None) -> list[str] | None:
    """The suite's test ids in ``root`` (None: only a run can say, the ``junit`` runner); with a
    sandbox, pytest collects there, since collecting runs the tested code's imports."""
    if sandbox is not None and settings.runner == "pytest":
        return IsolatedPytestRunner(settings, sandbox).collect(root)
    return make_runner(settings).list_tests(root)


def _runner(settings: SuiteSettings, sandbox: Sandbox | None) -> Runner:
    if sandbox is not None and settings.runner == "pytest":
        return IsolatedPytestRunner(settings, sandbox)
    return make_runner(settings, sandbox)
