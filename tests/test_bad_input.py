"""Invariant 8, as a table: every kind of bad input gets one line naming the flag, or the file
and field, and the fix; the documented exit code; no traceback; nothing changed upstream.

Each row: an id, what to set up in the work repo, the command, the exit code, and words the
one line must contain (and, optionally, words it must not).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import yaml

from harness.locks.lockfile import new_nonce
from tests.conftest import WorkRepo, assert_one_line_error, commit_file, git, run_harness

Setup = Callable[[WorkRepo], None]


def nothing(work: WorkRepo) -> None:
    pass


def config(text: str) -> Setup:
    """harness.yaml in the clone (read from the worktree, as a user editing it would)."""

    def setup(work: WorkRepo) -> None:
        (work.first_clone / "harness.yaml").write_text("version: 1\n" + text)

    return setup


def upstream_files(files: dict[str, str]) -> Setup:
    """Files committed straight to upstream main by someone other than harness (fetched into
    the upstream past its gate: content from before the gate, or on an ungated upstream)."""

    def setup(work: WorkRepo) -> None:
        seed = work.clone("seed")
        for name, text in files.items():
            commit_file(seed, name, text, f"add {name}")
        git(work.upstream, "fetch", "-q", str(seed), "HEAD:refs/heads/main")
        git(work.first_clone, "pull", "-q", "origin", "main")

    return setup


def both(first: Setup, second: Setup) -> Setup:
    def setup(work: WorkRepo) -> None:
        first(work)
        second(work)

    return setup


def lock(task: str, **fields: object) -> str:
    data = {"task": task, "agent": "ghost", "nonce": new_nonce(), "claimed_at": "2024-01-01T00:00:00Z", **fields}
    return yaml.safe_dump(data)


JUNIT_NO_NAME = '<testsuite><testcase classname="suite"/></testsuite>\n'
JUNIT_CONFIG = "tests:\n  runner: junit\n  command: cp report.xml {junit}\n"  # the report as the suite wrote it


@dataclass(frozen=True)
class Case:
    id: str
    setup: Setup
    argv: tuple[str, ...]
    code: int
    needles: tuple[str, ...]
    absent: tuple[str, ...] = ()
    # `harness test` reports in its own shape (summary, ERROR lines, log path) on stdout
    reported_by_test: bool = False


LOOP = ("loop", "--role", "core-dev", "--backend", "builtin", "--once")

CASES = [
    # -- flags -----------------------------------------------------------------------
    Case("agent-empty", nothing, ("claim", "t1", "--agent", ""), 2, ("invalid agent id ''", "--agent")),
    Case("agent-spaces", nothing, ("claim", "t1", "--agent", "bad agent"), 2, ("agent id",)),
    Case("task-id-traversal", nothing, ("claim", "../x", "--agent", "a1"), 2, ("invalid task id",)),
    Case(
        "release-done-and-abandon",
        nothing,
        ("release", "t1", "--done", "--abandon", "--agent", "a1"),
        2,
        ("--done and --abandon", "pass one"),
    ),
    Case("release-invalid-id", nothing, ("release", "Bad Id", "--agent", "a1"), 2, ("invalid task id",)),
    Case("lease-huge", nothing, ("claim", "t1", "--lease", "99999999999999999999"), 2, ("--lease", "10<=x<=604800")),
    Case("lease-too-short", nothing, ("claim", "t1", "--lease", "5"), 2, ("--lease", "10<=x<=604800")),
    Case("lease-negative", nothing, ("claim", "t1", "--lease", "-1"), 2, ("--lease",)),
    Case("session-timeout-negative", nothing, (*LOOP, "--session-timeout", "-5"), 2, ("--session-timeout", "> 0")),
    Case("session-timeout-nan", nothing, (*LOOP, "--session-timeout", "nan"), 2, ("--session-timeout", "finite")),
    Case("session-timeout-zero", nothing, (*LOOP, "--session-timeout", "0"), 2, ("--session-timeout", "> 0")),
    Case("idle-backoff-negative", nothing, (*LOOP, "--idle-backoff", "-1"), 2, ("--idle-backoff", ">= 0")),
    Case("budget-negative", nothing, (*LOOP, "--budget-usd", "-1"), 2, ("--budget-usd", ">= 0")),
    Case("budget-inf", nothing, (*LOOP, "--budget-usd", "inf"), 2, ("--budget-usd", "finite")),
    Case(
        "role-traversal",
        nothing,
        ("loop", "--role", "../../etc/passwd", "--once"),
        2,
        ("--role '../../etc/passwd'", "unknown role", "core-dev"),
    ),
    Case("role-unknown", nothing, ("loop", "--role", "wizard", "--once"), 2, ("--role 'wizard'", "harness.yaml")),
    Case(
        "depends-on-missing",
        nothing,
        ("tasks", "add", "b", "--title", "B", "--depends-on", "nosuch"),
        2,
        ("--depends-on nosuch", "tasks/nosuch.yaml"),
    ),
    Case(
        "depends-on-self",
        nothing,
        ("tasks", "add", "a", "--title", "A", "--depends-on", "a"),
        2,
        ("dependency cycle a -> a",),
    ),
    # -- harness.yaml ----------------------------------------------------------------
    Case(
        "branch-missing",
        config("branch: develop\n"),
        ("claim", "t1", "--agent", "a1"),
        1,
        ("harness.yaml", "branch:", "'develop'"),
    ),
    Case(
        "workers-negative",
        config("tests:\n  runner: files\n  glob: 't/*.sh'\n  run: sh {test}\n  workers: -3\n"),
        ("test",),
        1,
        ("harness.yaml", "tests.workers", "workers"),
        ("seconds",),
    ),
    Case(
        "config-lease-huge",
        config("locks:\n  lease_seconds: 100000000000000000000000000\n"),
        ("claim", "t1"),
        1,
        ("harness.yaml", "locks.lease_seconds", "from 10 to 604800"),
    ),
    Case(
        "config-lease-float",
        config("locks:\n  lease_seconds: 1.0e+26\n"),
        ("claim", "t1"),
        1,
        ("locks.lease_seconds", "whole number of seconds"),
    ),
    Case(
        "config-lease-negative",
        config("locks:\n  lease_seconds: -10\n"),
        ("claim", "t1"),
        1,
        ("locks.lease_seconds", "from 10 to 604800"),
    ),
    Case(
        "config-skew-negative",
        config("locks:\n  clock_skew_seconds: -1\n"),
        ("status",),
        1,
        ("locks.clock_skew_seconds", "seconds"),
    ),
    Case(
        "config-hand-back-timeout",
        config("loop:\n  hand_back_timeout_seconds: -1\n"),
        LOOP,
        1,
        ("loop.hand_back_timeout_seconds",),
    ),
    # -- files on the upstream ---------------------------------------------------------
    Case(
        "lock-names-another-task",
        upstream_files({"current_tasks/x1.lock": lock("other")}),
        ("claim", "x1", "--agent", "a1"),
        1,
        ("current_tasks/x1.lock", "task: says 'other'", "named for 'x1'"),
    ),
    Case(
        "lock-negative-lease",
        upstream_files({"current_tasks/n1.lock": lock("n1", lease_seconds=-5)}),
        ("claim", "n1", "--agent", "a1"),
        1,
        ("current_tasks/n1.lock", "lease_seconds", "-5"),
    ),
    Case(
        "lock-huge-lease",
        upstream_files({"current_tasks/h1.lock": lock("h1", lease_seconds=10**26)}),
        ("claim", "h1", "--agent", "a1"),
        1,
        ("current_tasks/h1.lock", "lease_seconds"),
    ),
    Case(
        "lock-path-is-a-directory",
        upstream_files({"current_tasks/e1.lock/notes.txt": "mine\n"}),
        ("claim", "e1", "--agent", "a1"),
        1,
        ("current_tasks/e1.lock is a directory", "move it"),
    ),
    Case(
        "spec-in-a-cycle",
        upstream_files({"tasks/a.yaml": "title: A\ndepends_on: [b]\n", "tasks/b.yaml": "title: B\ndepends_on: [a]\n"}),
        ("claim", "a", "--agent", "a1"),
        4,
        ("dependency cycle a -> b -> a",),
    ),
    Case(
        "spec-missing-dependency",
        upstream_files({"tasks/c.yaml": "title: C\ndepends_on: [gone]\n"}),
        ("claim", "c", "--agent", "a1"),
        4,
        ("depends on gone", "tasks/gone.yaml"),
    ),
    Case(
        "spec-malformed-others-listed",
        upstream_files({"tasks/broken.yaml": "title: [unclosed\n", "tasks/fine.yaml": "title: Fine\n"}),
        ("tasks", "list"),
        0,
        ("ERROR tasks/broken.yaml", "not valid YAML"),
    ),
    Case(
        "junit-testcase-without-name",
        both(upstream_files({"report.xml": JUNIT_NO_NAME}), config(JUNIT_CONFIG)),
        ("test",),
        1,
        ("has no name attribute", "reporter"),
        reported_by_test=True,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_gets_one_line_and_the_documented_exit_code(work: WorkRepo, case: Case) -> None:
    case.setup(work)
    before = work.upstream_git("rev-parse", "main")
    proc = run_harness(*case.argv, cwd=work.first_clone)
    if case.reported_by_test:
        assert proc.returncode == case.code and "Traceback" not in proc.stdout + proc.stderr
        (line,) = [line for line in proc.stdout.splitlines() if line.startswith("ERROR")]
        assert all(needle in line for needle in case.needles), line
    else:
        assert_one_line_error(proc, case.code, *case.needles)
    for word in case.absent:
        assert word not in proc.stderr, proc.stderr
    assert work.upstream_git("rev-parse", "main") == before  # nothing was pushed
    if case.code == 0:
        assert "fine" in proc.stdout  # the others are still listed
