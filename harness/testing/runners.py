"""The three runners: ``pytest`` (node ids), ``files`` (one process per test file, in
parallel, per-test timeout) and ``junit`` (any command that writes JUnit XML).

Each runner lists its tests when it can (``junit`` cannot: the command decides) and runs a
given list, appending everything the tests print to one log file. A runner never loses
results: a test with no reported outcome becomes an ERROR result naming the log.
"""

from __future__ import annotations

import re
import shlex
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Protocol

from harness.config import SuiteSettings
from harness.errors import ConfigError
from harness.runtime import process as proc
from harness.testing import junit
from harness.testing.model import Outcome, TestResult, one_line

Progress = Callable[[int, int, int], None]  # done, total, failed


class Log:
    """The full log of a run: appended to by several threads, read by humans only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(text if text.endswith("\n") else text + "\n")


class Runner(Protocol):
    def list_tests(self, root: Path) -> list[str] | None: ...

    def run(self, root: Path, ids: Sequence[str] | None, log: Log, progress: Progress) -> list[TestResult]: ...


def make_runner(settings: SuiteSettings) -> Runner:
    if settings.runner == "files":
        return FilesRunner(settings)
    if settings.runner == "junit":
        return JunitRunner(settings)
    return PytestRunner(settings)


# -- pytest -----------------------------------------------------------------------------

_VERBOSE = re.compile(r"^(\S.*::\S.*?) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b")
_SUMMARY = re.compile(r"^(FAILED|ERROR) (\S+?)(?: - (.*))?$")
_NO_REASON = {"FAILED": "failed", "ERROR": "could not be collected or set up (see log)"}
_PYTEST_OUTCOME = {
    "PASSED": Outcome.PASSED,
    "XPASS": Outcome.PASSED,
    "FAILED": Outcome.FAILED,
    "ERROR": Outcome.ERROR,
    "SKIPPED": Outcome.SKIPPED,
    "XFAIL": Outcome.SKIPPED,
}


class PytestRunner:
    def __init__(self, settings: SuiteSettings) -> None:
        self.settings = settings
        base = shlex.split(settings.command) if settings.command else [sys.executable, "-m", "pytest"]
        self.base = [*base, "-p", "no:cacheprovider"]

    def list_tests(self, root: Path) -> list[str] | None:
        done = proc.run([*self.base, "--collect-only", "-q", *self.settings.args], root, self.settings.timeout_seconds)
        # `-q --collect-only` prints the node ids first, up to the first blank line.
        head = done.output.split("\n\n", 1)[0]
        ids = [line.strip() for line in head.splitlines() if "::" in line and not line.startswith(" ")]
        # Files that fail to import are tests too: they show up as ERROR results when run.
        ids += [m.group(2) for m in map(_SUMMARY.match, done.output.splitlines()) if m and "::" not in m.group(2)]
        if done.returncode not in (0, 1, 2, 5) or (done.returncode == 2 and not ids):
            raise ConfigError(f"pytest could not collect tests in {root}: {_tail(done.output)}")
        return ids

    def run(self, root: Path, ids: Sequence[str] | None, log: Log, progress: Progress) -> list[TestResult]:
        if ids is not None and not ids:
            return []
        targets = list(ids) if ids is not None else list(self.settings.args)
        argv = [*self.base, "-v", "-rA", "--tb=short", "--continue-on-collection-errors"]
        argv += ["-o", "console_output_style=classic", *targets]
        with _Ticker(progress, len(targets), self.settings.progress_seconds):
            done = proc.run(argv, root, self.settings.total_timeout_seconds)
        log.write(done.output)
        results = parse_pytest_output(done.output)
        if done.returncode is None:
            log.write(f"harness: pytest {proc.describe_exit(None, self.settings.total_timeout_seconds)}")
        return results


def parse_pytest_output(text: str) -> list[TestResult]:
    outcomes: dict[str, Outcome] = {}
    reasons: dict[str, str] = {}
    for line in text.splitlines():
        verbose = _VERBOSE.match(line)
        if verbose:
            outcomes[verbose.group(1)] = _PYTEST_OUTCOME[verbose.group(2)]
            continue
        summary = _SUMMARY.match(line)
        if summary:
            tid = summary.group(2)
            # "ERROR at teardown" after a PASSED still breaks the test.
            outcomes[tid] = Outcome.FAILED if summary.group(1) == "FAILED" else Outcome.ERROR
            reasons[tid] = one_line(summary.group(3) or "") or _NO_REASON[summary.group(1)]
    return [TestResult(tid, outcome, reasons.get(tid, "")) for tid, outcome in outcomes.items()]


# -- files ------------------------------------------------------------------------------


class FilesRunner:
    def __init__(self, settings: SuiteSettings) -> None:
        self.settings = settings

    def list_tests(self, root: Path) -> list[str] | None:
        return sorted(p.relative_to(root).as_posix() for p in root.glob(self.settings.glob) if p.is_file())

    def run(self, root: Path, ids: Sequence[str] | None, log: Log, progress: Progress) -> list[TestResult]:
        todo = list(ids) if ids is not None else (self.list_tests(root) or [])
        results: list[TestResult] = []
        failed = 0
        with ThreadPoolExecutor(max_workers=self.settings.workers) as pool:
            futures = [pool.submit(self._one, root, tid, log) for tid in todo]
            reported = time.monotonic()
            for future in as_completed(futures):
                result = future.result()
                results.append(result)
                failed += result.outcome.bad
                if time.monotonic() - reported >= self.settings.progress_seconds:
                    progress(len(results), len(todo), failed)
                    reported = time.monotonic()
        return results

    def _one(self, root: Path, tid: str, log: Log) -> TestResult:
        command = self.settings.run.replace("{test}", shlex.quote(tid))
        try:
            done = proc.run(command, root, self.settings.timeout_seconds)
        except OSError as exc:  # fork failed, cwd vanished: the test could not run
            log.write(f"=== {tid}: error\n{exc}")
            return TestResult(tid, Outcome.ERROR, f"could not start: {exc.strerror}")
        if done.returncode == 0:
            outcome, reason = Outcome.PASSED, ""
        elif done.returncode is None:
            outcome, reason = Outcome.TIMEOUT, proc.describe_exit(None, self.settings.timeout_seconds)
        else:
            outcome = Outcome.FAILED
            reason = proc.describe_exit(done.returncode, 0)
            last = one_line("\n".join(reversed(done.output.splitlines())), 160)
            reason += f": {last}" if last else ""
        log.write(f"=== {tid}: {outcome.value} ({done.seconds:.2f} s) {reason}\n{done.output}")
        return TestResult(tid, outcome, reason, done.seconds)


# -- junit ------------------------------------------------------------------------------


class JunitRunner:
    def __init__(self, settings: SuiteSettings) -> None:
        self.settings = settings

    def list_tests(self, root: Path) -> list[str] | None:
        return None  # only the command knows; --fast samples its results

    def run(self, root: Path, ids: Sequence[str] | None, log: Log, progress: Progress) -> list[TestResult]:
        with tempfile.TemporaryDirectory(prefix="harness-junit-") as tmp:
            target = Path(tmp) / "junit.xml"
            command = self.settings.command.replace("{junit}", shlex.quote(str(target)))
            with _Ticker(progress, 0, self.settings.progress_seconds):
                done = proc.run(command, root, self.settings.total_timeout_seconds)
            log.write(done.output)
            reports = [target] if target.exists() else []
            if self.settings.report:
                reports += sorted(p for p in root.glob(self.settings.report) if p.is_file())
            exit_text = proc.describe_exit(done.returncode, self.settings.total_timeout_seconds)
            if not reports:
                where = self.settings.report or "{junit}"
                raise ConfigError(
                    f"tests.command ({exit_text}) wrote no JUnit report at {where}; full output in {log.path}"
                )
            results: list[TestResult] = []
            for report in reports:
                # Keep a copy next to the log: a malformed report is evidence, not litter.
                log.write(f"=== JUnit report {report}\n{report.read_text(encoding='utf-8', errors='replace')}")
                results += junit.parse_file(report)
            return results


class _Ticker:
    """Calls ``progress`` every few seconds while a single long process runs."""

    def __init__(self, progress: Progress, total: int, every: float = 30.0) -> None:
        self.progress, self.total, self.every = progress, total, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> _Ticker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.progress(-1, self.total, 0)


def _tail(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no output)"
