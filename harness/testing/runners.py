"""The three runners: ``pytest`` (node ids), ``files`` (one process per test file, in
parallel, per-test timeout) and ``junit`` (any command that writes JUnit XML).

Each runner lists its tests when it can (``junit`` cannot: the command decides) and runs a
given list, appending everything the tests print to one log file. A runner never loses
results: a test with no reported outcome becomes an ERROR result naming the log.

Given a sandbox (the gate's runs), ``files`` and ``junit`` run their commands in a box of it
(harness/runtime/sandbox.py) and a run it cannot vouch for raises UntrustedRun; the gate's
pytest runner is harness/testing/isolated.py.
"""

from __future__ import annotations

import re
import shlex
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from harness.config import SuiteSettings
from harness.errors import ConfigError
from harness.runtime import process as proc
from harness.runtime.sandbox import Ran, Sandbox
from harness.testing import junit
from harness.testing.model import Outcome, TestResult, UntrustedRun, one_line

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


def make_runner(settings: SuiteSettings, sandbox: Sandbox | None = None) -> Runner:
    if settings.runner == "files":
        return FilesRunner(settings, sandbox)
    if settings.runner == "junit":
        return JunitRunner(settings, sandbox)
    return PytestRunner(settings)


class Place(Protocol):
    """Where a runner's commands run: the tree itself, or a sandbox box holding a copy of it."""

    @property
    def root(self) -> Path: ...

    @property
    def out(self) -> Path: ...  # a directory the command may write reports into

    def run(self, argv: str | Sequence[str], timeout: float) -> Ran: ...


class Direct:
    """No sandbox (``harness test`` in an agent's own clone): a plain child process group."""

    def __init__(self, root: Path, out: Path) -> None:
        self.root, self.out = root, out

    def run(self, argv: str | Sequence[str], timeout: float) -> Ran:
        done = proc.run(argv, self.root, timeout)
        return Ran(done.returncode, done.output, done.seconds)


@contextmanager
def place(root: Path, sandbox: Sandbox | None) -> Iterator[Place]:
    if sandbox is None:
        with tempfile.TemporaryDirectory(prefix="harness-run-") as tmp:
            yield Direct(root, Path(tmp))
    else:
        with sandbox.box(root) as box:
            yield box


# -- pytest -----------------------------------------------------------------------------

_VERBOSE = re.compile(r"^(\S.*::\S.*?) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b")
_SUMMARY = re.compile(r"^(FAILED|ERROR) (\S+?)(?: - (.*))?$")
WIDE_COLUMNS = 1000
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
        with Ticker(progress, len(targets), self.settings.progress_seconds):
            # pytest trims each summary line (FAILED id - reason) to the terminal's width,
            # cutting the reason mid-expression; a wide "terminal" keeps it whole.
            env = proc.child_env({"COLUMNS": str(WIDE_COLUMNS)})
            done = proc.run(argv, root, self.settings.total_timeout_seconds, env)
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
    def __init__(self, settings: SuiteSettings, sandbox: Sandbox | None = None) -> None:
        self.settings = settings
        self.sandbox = sandbox

    def list_tests(self, root: Path) -> list[str] | None:
        return sorted(p.relative_to(root).as_posix() for p in root.glob(self.settings.glob) if p.is_file())

    def run(self, root: Path, ids: Sequence[str] | None, log: Log, progress: Progress) -> list[TestResult]:
        todo = list(ids) if ids is not None else (self.list_tests(root) or [])
        results: list[TestResult] = []
        problems: list[str] = []
        failed = 0
        with place(root, self.sandbox) as where, ThreadPoolExecutor(max_workers=self.settings.workers) as pool:
            futures = [pool.submit(self._one, where, tid, log, problems) for tid in todo]
            reported = time.monotonic()
            for future in as_completed(futures):
                result = future.result()
                results.append(result)
                failed += result.outcome.bad
                if time.monotonic() - reported >= self.settings.progress_seconds:
                    progress(len(results), len(todo), failed)
                    reported = time.monotonic()
        if problems:
            raise UntrustedRun(problems, results)
        return results

    def _one(self, where: Place, tid: str, log: Log, problems: list[str]) -> TestResult:
        command = self.settings.run.replace("{test}", shlex.quote(tid))
        try:
            done = where.run(command, self.settings.timeout_seconds)
        except OSError as exc:  # fork failed, cwd vanished: the test could not run
            log.write(f"=== {tid}: error\n{exc}")
            return TestResult(tid, Outcome.ERROR, f"could not start: {exc.strerror}")
        if done.problems:  # the sandbox cannot say how the test ended: not a pass, not a failure
            problems += [f"{tid}: {p}" for p in done.problems]
            log.write(f"=== {tid}: error\n{done.output}\n" + "\n".join(done.problems))
            return TestResult(tid, Outcome.ERROR, done.problems[0])
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
    def __init__(self, settings: SuiteSettings, sandbox: Sandbox | None = None) -> None:
        self.settings = settings
        self.sandbox = sandbox

    def list_tests(self, root: Path) -> list[str] | None:
        return None  # only the command knows; --fast samples its results

    def run(self, root: Path, ids: Sequence[str] | None, log: Log, progress: Progress) -> list[TestResult]:
        with place(root, self.sandbox) as where:
            target = where.out / "junit.xml"
            command = self.settings.command.replace("{junit}", shlex.quote(str(target)))
            with Ticker(progress, 0, self.settings.progress_seconds):
                done = where.run(command, self.settings.total_timeout_seconds)
            log.write(done.output)
            if done.problems:
                raise UntrustedRun(done.problems)
            reports = [target] if target.exists() else []
            if self.settings.report:
                reports += sorted(p for p in where.root.glob(self.settings.report) if p.is_file())
            exit_text = proc.describe_exit(done.returncode, self.settings.total_timeout_seconds)
            if not reports:
                place_text = self.settings.report or "{junit}"
                raise ConfigError(
                    f"tests.command ({exit_text}) wrote no JUnit report at {place_text}; full output in {log.path}"
                )
            results: list[TestResult] = []
            for report in reports:
                # Keep a copy next to the log: a malformed report is evidence, not litter.
                log.write(f"=== JUnit report {report}\n{report.read_text(encoding='utf-8', errors='replace')}")
                results += junit.parse_file(report)
        if self.sandbox is not None:
            _cross_check_junit(done.returncode, results, self.settings.total_timeout_seconds)
        return results


def _cross_check_junit(code: int | None, results: list[TestResult], timeout: float) -> None:
    """A gate run's exit status must agree with its XML. Exit 0 with failures is not refused:
    the failures count as failures anyway, and some pipelines (go test | go-junit-report)
    exit 0 whatever the tests did."""
    if code is None:
        raise UntrustedRun([f"tests.command {proc.describe_exit(None, timeout)}"], results)
    if code != 0 and not any(r.outcome.bad for r in results):
        raise UntrustedRun(
            [f"tests.command {proc.describe_exit(code, 0)} but its JUnit report has no failing test"], results
        )


class Ticker:
    """Calls ``progress`` every few seconds while a single long process runs."""

    def __init__(self, progress: Progress, total: int, every: float = 30.0) -> None:
        self.progress, self.total, self.every = progress, total, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Ticker:
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
