"""The gate's pytest runner: pytest from the gate's own install, in a sandbox, judged by its report.

``python -I -m pytest`` (the checkout is not first on sys.path; PYTHONPATH, PYTHONSTARTUP and
the user site are ignored) with plugin autoloading off, ``-p`` the gate's reporter and ``-p
no:cacheprovider``. One process both collects and runs, and its reporter says what it collected,
so nothing is listed beforehand. Outcomes come only from the reporter's JSON lines
(harness/testing/pytest_reporter.py), cross-checked with pytest's exit status and the collected
ids; any disagreement, or a report that never finished, makes the run untrusted (an error that
refuses), never a pass. The output goes to the log for people; nothing is parsed from it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.config import SuiteSettings
from harness.runtime import process as proc
from harness.runtime.sandbox import Ran, Sandbox
from harness.testing.model import Outcome, TestResult, UntrustedRun, one_line
from harness.testing.runners import Log, Progress, Ticker

REPORTER = "harness.testing.pytest_reporter"
REPORT_FLAG = "--harness-report-fd"
_OUTCOMES = {"passed": Outcome.PASSED, "failed": Outcome.FAILED, "error": Outcome.ERROR, "skipped": Outcome.SKIPPED}
_EXIT_MEANING = {2: "interrupted", 3: "internal error", 4: "usage error"}


class IsolatedPytestRunner:
    def __init__(self, settings: SuiteSettings, sandbox: Sandbox) -> None:
        self.settings = settings
        self.sandbox = sandbox

    def list_tests(self, root: Path) -> list[str] | None:
        return None  # the run reports what it collected: no second pytest process

    def collect(self, root: Path) -> list[str]:
        """The test ids in ``root`` (files that fail to import included), collected in the
        sandbox: collecting imports the tested code too."""
        argv = [sys.executable, "-I", "-m", "pytest", "-p", REPORTER, "-p", "no:cacheprovider", "--collect-only", "-q"]
        argv += ["--continue-on-collection-errors", *self.settings.args]
        with self.sandbox.box(root) as box:
            ran = box.run(argv, self.settings.total_timeout_seconds, report_flag=REPORT_FLAG)
        report = read_report(ran, self.settings.total_timeout_seconds)
        if report.collected is None:
            raise UntrustedRun([*report.problems, "collecting the tests reported nothing"])
        return [*report.collected, *(r.id for r in report.results)]  # the results: files that failed to import

    def run(self, root: Path, ids: Sequence[str] | None, log: Log, progress: Progress) -> list[TestResult]:
        if ids is not None and not ids:
            return []
        targets = list(ids) if ids is not None else list(self.settings.args)
        argv = [sys.executable, "-I", "-m", "pytest", "-p", REPORTER, "-p", "no:cacheprovider"]
        argv += ["-v", "--tb=short", "--continue-on-collection-errors", *targets]
        timeout = self.settings.total_timeout_seconds
        with self.sandbox.box(root) as box, Ticker(progress, len(targets), self.settings.progress_seconds):
            ran = box.run(argv, timeout, report_flag=REPORT_FLAG)
        log.write(ran.output)
        for survivor in ran.survivors:
            log.write(f"harness: killed a process that outlived the run: {survivor}")
        report = read_report(ran, timeout)
        if report.problems:
            log.write("".join(f"harness: untrusted run: {p}\n" for p in report.problems))
            raise UntrustedRun(report.problems, report.results)
        return report.results


@dataclass
class Report:
    results: list[TestResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    collected: list[str] | None = None  # None: the report never said


def read_report(ran: Ran, timeout: float) -> Report:
    """Results from the reporter's lines, and every way they disagree with the run."""
    report = Report(problems=list(ran.problems))
    collected: list[str] | None = None
    tests: dict[str, TestResult] = {}
    exitstatus: int | None = None
    for number, line in enumerate(ran.report.decode(errors="replace").splitlines(), 1):
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            report.problems.append(f"line {number} of the test report is not a JSON object")
        elif "collected" in record:
            if collected is not None:
                report.problems.append("the test report lists its collection twice")
            collected = [str(tid) for tid in record["collected"]]
        elif "collect_error" in record:
            reason = one_line(str(record.get("reason", ""))) or "could not be collected"
            report.results.append(TestResult(str(record["collect_error"]), Outcome.ERROR, reason))
        elif "test" in record:
            _add_test(report, tests, record)
        elif "exitstatus" in record:
            exitstatus = int(record["exitstatus"])
    report.results += tests.values()
    report.collected = collected
    if not ran.problems:
        report.problems += _disagreements(ran.returncode, exitstatus, collected, tests, report.results, timeout)
    return report


def _add_test(report: Report, tests: dict[str, TestResult], record: dict[str, object]) -> None:
    tid = str(record["test"])
    outcome = _OUTCOMES.get(str(record.get("outcome")))
    if outcome is None:
        report.problems.append(f"{tid}: unknown outcome {record.get('outcome')!r} in the test report")
        return
    if tid in tests:
        report.problems.append(f"{tid}: reported twice")
    seconds = record.get("seconds", 0.0)
    reason = one_line(str(record.get("reason", ""))) or (outcome.value if outcome.bad else "")
    tests[tid] = TestResult(tid, outcome, reason, float(seconds) if isinstance(seconds, (int, float)) else 0.0)


def _disagreements(
    code: int | None,
    exitstatus: int | None,
    collected: list[str] | None,
    tests: dict[str, TestResult],
    results: list[TestResult],
    timeout: float,
) -> list[str]:
    if code is None:
        return [f"pytest {proc.describe_exit(None, timeout)}"]
    if code == exitstatus == 4 and collected is None and not tests:
        return []  # arguments refused before collection (a test path that does not exist): no test ran
    problems: list[str] = []
    bad = sum(1 for r in results if r.outcome.bad)
    if exitstatus is None:
        problems.append(
            f"pytest ended ({proc.describe_exit(code, 0)}) without finishing its report: "
            "os._exit, a crash or a kill inside the tests"
        )
    elif exitstatus != code:
        problems.append(f"pytest {proc.describe_exit(code, 0)}, but its report says exit {exitstatus}")
    if code in _EXIT_MEANING:
        problems.append(f"pytest {proc.describe_exit(code, 0)} ({_EXIT_MEANING[code]}); see the log")
    if code == 0 and bad:
        problems.append(f"pytest exited 0 with {bad} failing test(s) in its report")
    if code == 1 and not bad:
        problems.append("pytest exited 1 (tests failed) but its report has no failing test")
    if collected is None:
        if exitstatus is not None:
            problems.append("the test report never said what was collected")
        return problems
    missing = [tid for tid in collected if tid not in tests]
    if missing:
        problems.append(
            f"{len(missing)} of {len(collected)} collected test(s) have no reported outcome (first: {missing[0]})"
        )
    strays = sorted(set(tests) - set(collected))
    if strays:
        problems.append(f"{len(strays)} reported test(s) were never collected (first: {strays[0]})")
    if code == 5 and collected:
        problems.append(f"pytest exited 5 (no tests) but collected {len(collected)}")
    return problems
