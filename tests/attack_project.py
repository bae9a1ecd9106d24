"""The project an agent bent on a green gate attacks (test_gate_verifier/infra/rules.py).

A real, small pytest project on an upstream made by `harness init`, gated, with one
genuinely failing test (``sub`` has a bug). Pushes are real `git push`es with
``HARNESS_ROLE`` set, as a loop or a person would make them. ``gate.test_roles`` is
``[test-lead]``, so the lead (``protected_roles``) is not automatically a test role.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.gate.baseline import BaselineStore
from tests.conftest import WorkRepo, git

CALC = """\
def add(a, b):
    return a + b


def mul(a, b):
    return a * b


def sub(a, b):
    return a - b + 1  # the bug the failing test finds
"""

TEST_CALC = """\
from calc import add, mul, sub


def test_add():
    assert add(2, 3) == 5


def test_mul():
    assert mul(2, 3) == 6


def test_sub():
    assert sub(5, 3) == 2
"""

TEST_MORE = """\
from calc import add


def test_add_zero():
    assert add(0, 7) == 7


def test_add_negative():
    assert add(-1, 1) == 0
"""

PYTEST_INI = "[pytest]\ntestpaths = tests\npythonpath = .\n"

CONFIG = """\
version: 1
branch: main
tests:
  runner: pytest
  total_timeout_seconds: 120
gate:
  protected: [harness.yaml]
  protected_roles: [lead]
  test_roles: [test-lead]
  reruns: 1
"""

PASSING = {
    "tests/test_calc.py::test_add",
    "tests/test_calc.py::test_mul",
    "tests/test_more.py::test_add_zero",
    "tests/test_more.py::test_add_negative",
}
FAILING = "tests/test_calc.py::test_sub"
FIXED_CALC = CALC.replace("a - b + 1  # the bug the failing test finds", "a - b")


@dataclass
class Attack:
    work: WorkRepo
    clone: Path  # the attacking agent's clone

    def write(self, files: Mapping[str, str | None]) -> None:
        for path, text in files.items():
            target = self.clone / path
            if text is None:
                git(self.clone, "rm", "-q", "-r", path)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            git(self.clone, "add", path)

    def commit(self, files: Mapping[str, str | None], message: str = "work") -> str:
        self.write(files)
        git(self.clone, "commit", "-q", "--allow-empty", "-m", message)
        return git(self.clone, "rev-parse", "HEAD").strip()

    def push(self, role: str = "core-dev", *extra: str, env: Mapping[str, str] | None = None) -> Push:
        before = self.tip()
        proc = subprocess.run(
            ["git", "push", *extra, "origin", "HEAD:main"],
            cwd=self.clone,
            capture_output=True,
            text=True,
            env={**os.environ, "HARNESS_ROLE": role, **(env or {})},
            check=False,
        )
        return Push(proc.returncode, proc.stderr, before, self.tip())

    def reset(self) -> None:
        """Back to upstream main: the refused work is the attacker's to keep or drop."""
        git(self.clone, "fetch", "-q", "origin")
        git(self.clone, "reset", "-q", "--hard", "origin/main")

    def tip(self) -> str:
        return self.work.upstream_git("rev-parse", "main").strip()

    def baseline(self, sha: str | None = None) -> set[str]:
        found = BaselineStore(self.work.upstream / "harness" / "baseline").load(sha or self.tip())
        assert found is not None, f"no baseline for {sha or 'the tip'}"
        return set(found.passed)


@dataclass(frozen=True)
class Push:
    returncode: int
    stderr: str
    before: str  # upstream main before the push
    after: str

    @property
    def landed(self) -> bool:
        return self.returncode == 0 and self.after != self.before

    def errors(self) -> list[str]:
        return [line.removeprefix("remote: ").rstrip() for line in self.stderr.splitlines() if "ERROR " in line]


def refused(push: Push, *needles: str) -> None:
    """The push was refused, main did not move, and the refusal says each of ``needles``."""
    assert push.returncode != 0 and push.after == push.before, push.stderr
    for needle in needles:
        assert needle in push.stderr, (needle, push.stderr)


def landed(push: Push) -> None:
    assert push.landed, push.stderr


def make_attack(work: WorkRepo) -> Attack:
    """The project on main (pushed by the lead), and the attacker's clone of it; each test
    file wraps this in its own ``attack`` fixture."""
    clone = work.first_clone
    files = {
        "harness.yaml": CONFIG,
        "calc.py": CALC,
        "tests/test_calc.py": TEST_CALC,
        "tests/test_more.py": TEST_MORE,
        "pytest.ini": PYTEST_INI,
    }
    lead = Attack(work, clone)
    lead.commit(files, "the calc project")
    landed(lead.push("lead"))
    return Attack(work, work.clone("agent"))
