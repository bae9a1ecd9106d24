"""What a test run produces: one outcome per test id, and the run around them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from harness.errors import HarnessError


class Outcome(Enum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"  # the test could not run (collection error, crash of the harness around it)
    TIMEOUT = "timeout"
    SKIPPED = "skipped"

    @property
    def bad(self) -> bool:
        return self in (Outcome.FAILED, Outcome.ERROR, Outcome.TIMEOUT)


@dataclass(frozen=True)
class TestResult:
    __test__ = False  # not a pytest class, despite the name

    id: str
    outcome: Outcome
    reason: str = ""  # one line: the assertion, the exit code, "timed out after 60 s"
    seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """Results by test id, the ids that were asked for, and where the full log is."""

    results: dict[str, TestResult]
    selected: tuple[str, ...]
    log_path: Path
    seconds: float
    # Problems of the run itself (a runner that crashed, a malformed report): never silent.
    problems: tuple[str, ...] = ()
    fraction: float | None = None  # None: the full suite
    seed: str = ""
    total: int = 0  # size of the suite the sample was drawn from
    flaky: tuple[str, ...] = field(default=())

    def passed(self) -> set[str]:
        return {tid for tid, r in self.results.items() if r.outcome is Outcome.PASSED}

    def failures(self) -> list[TestResult]:
        return [r for r in self.results.values() if r.outcome.bad]

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results.values() if r.outcome is outcome)


class UntrustedRun(HarnessError):
    """A run whose report disagrees with itself or with its runner's exit status (or that left
    none): an error that refuses, never a pass. Carries what was reported, for the log."""

    def __init__(self, problems: Sequence[str], results: Sequence[TestResult] = (), log: Path | None = None) -> None:
        self.problems = list(problems)
        self.results = list(results)
        self.log = log  # the full log, where the gate keeps it
        super().__init__("; ".join(self.problems))


def merge(results: Iterable[TestResult]) -> dict[str, TestResult]:
    """By id; a later result for the same id wins (a re-run supersedes the first try)."""
    merged: dict[str, TestResult] = {}
    for result in results:
        merged[result.id] = result
    return merged


def one_line(text: str, limit: int = 300) -> str:
    """The first meaningful line of ``text``; a longer one keeps its head and its tail (an
    assertion's two sides, a message's last words) around a " … " in the middle."""
    for line in text.splitlines():
        if line.strip():
            line = line.strip()
            if len(line) <= limit:
                return line
            head = (limit - 3) * 2 // 3
            return f"{line[:head]} … {line[len(line) - (limit - 3 - head) :]}"
    return ""
