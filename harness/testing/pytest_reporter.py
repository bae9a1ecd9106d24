"""The gate's pytest plugin: one JSON line per event, written to a descriptor the gate opened.

Loaded by the gate with ``-p harness.testing.pytest_reporter --harness-report-fd=N`` into a
``python -I`` pytest whose plugin autoloading is off. Lines, in order:

    {"collected": ["tests/test_a.py::test_x", ...]}          once, after collection
    {"collect_error": "tests/test_b.py", "reason": "..."}      per file that failed to collect
    {"test": "<node id>", "outcome": "passed|failed|error|skipped", "reason": "...", "seconds": 0.1}
    {"exitstatus": 0}                                          last, at session finish

The gate (harness/testing/isolated.py) cross-checks these with pytest's exit status; stdout is
never read for outcomes. Standard library and pytest only: it runs inside the tested process.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import pytest

_RANK = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--harness-report-fd", type=int, default=None, help="write the gate's JSON lines here")


def pytest_configure(config: pytest.Config) -> None:
    # `python -m pytest` puts the checkout first on sys.path; `-I` does not. Add it last, after
    # pytest and this plugin are imported, so project imports work and nothing is shadowed.
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.append(cwd)
    fd = config.getoption("harness_report_fd")
    if fd is not None and not hasattr(config, "workerinput"):  # xdist workers report to the controller
        config.pluginmanager.register(_Reporter(fd), "harness-gate-reporter")


class _Reporter:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.current: dict[str, dict[str, Any]] = {}

    def emit(self, record: dict[str, Any]) -> None:
        os.write(self.fd, (json.dumps(record) + "\n").encode())

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            # The last line names the error ("E   ModuleNotFoundError: No module named 'x'").
            lines = [line.strip().removeprefix("E").strip() for line in str(report.longrepr).splitlines()]
            reason = next((line for line in reversed(lines) if line), "could not be collected")
            self.emit({"collect_error": report.nodeid, "reason": reason[:300]})

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.emit({"collected": [item.nodeid for item in session.items]})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        outcome = _outcome(report)
        entry = self.current.setdefault(report.nodeid, {"outcome": "passed", "reason": "", "seconds": 0.0})
        entry["seconds"] += report.duration
        if _RANK[outcome] > _RANK[entry["outcome"]] and not (entry["outcome"] == "failed" and outcome == "error"):
            entry["outcome"], entry["reason"] = outcome, _reason(report)
        if report.when == "teardown":  # every test ends with one, whatever happened before
            done = self.current.pop(report.nodeid)
            self.emit({"test": report.nodeid, **done})

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.emit({"exitstatus": int(exitstatus)})


def _outcome(report: pytest.TestReport) -> str:
    if report.passed:
        return "passed"
    if report.skipped:
        return "skipped"  # also xfail
    return "failed" if report.when == "call" else "error"


def _reason(report: pytest.TestReport) -> str:
    if getattr(report, "wasxfail", None) is not None and report.skipped:
        return "xfail"
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # skip: (path, line, reason)
        return str(longrepr[2])
    crash = getattr(longrepr, "reprcrash", None)
    text = str(crash.message) if crash is not None else str(longrepr or "")
    return next((line.strip() for line in text.splitlines() if line.strip()), "")[:300]
