"""Issue 13 items 4 and 5 on a real gated upstream (`harness init`) of a real pytest project: every
channel by which tested code or the pusher's environment could forge a green gate is refused,
the baseline cannot be written by tested code and is re-measured when tampered with, and a
landed push costs one suite run."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from harness.gate.baseline import BaselineStore
from harness.gate.runs import JOURNAL, read_journal
from tests.conftest import WorkRepo, commit_file, git, run_harness

CONFIG = """\
version: 1
branch: main
tests:
  runner: pytest
  args: [tests]
  total_timeout_seconds: 300
gate:
  protected: [harness.yaml]
  protected_roles: [lead]
"""
APP = """\
def add(a, b):
    return a + b


def mul(a, b):
    return a * b


def sub(a, b):
    return a + b  # the genuine bug: test_sub fails
"""
TESTS = """\
from app import add, mul, sub


def test_add():
    assert add(1, 2) == 3


def test_mul():
    assert mul(2, 3) == 6


def test_sub():
    assert sub(5, 3) == 2
"""
BROKEN_ADD = APP.replace("    return a + b\n\n\ndef mul", "    return a - b\n\n\ndef mul")
PLUGIN = """\
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome = "passed"  # every failure becomes a pass
"""


@pytest.fixture
def gated(work: WorkRepo) -> WorkRepo:
    """Upstream main holding the project (test_add and test_mul pass, test_sub fails)."""
    clone = work.first_clone
    (clone / "harness.yaml").write_text(CONFIG)
    (clone / "app.py").write_text(APP)
    (clone / "tests").mkdir()
    (clone / "tests" / "test_app.py").write_text(TESTS)
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "project")
    landed = push(clone, role="lead")
    assert landed.returncode == 0, landed.stderr
    # A push that changes the test settings leaves its tip's baseline to the next push.
    commit_file(clone, "README.md", "the project\n", "readme")
    landed = push(clone, role="lead")
    assert landed.returncode == 0, landed.stderr
    assert tip_baseline(work) == {"tests/test_app.py::test_add", "tests/test_app.py::test_mul"}
    return work


def push(clone: Path, role: str = "core-dev", **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "HARNESS_ROLE": role, **env}
    return subprocess.run(
        ["git", "push", "origin", "HEAD:main"], cwd=clone, capture_output=True, text=True, env=full, check=False
    )


def tip(work: WorkRepo) -> str:
    return work.upstream_git("rev-parse", "main").strip()


def store(work: WorkRepo) -> BaselineStore:
    return BaselineStore(work.upstream / "harness" / "baseline")


def tip_baseline(work: WorkRepo) -> set[str]:
    found = store(work).load(tip(work))
    assert found is not None, "no trusted baseline for the tip"
    return set(found.passed)


def journal(work: WorkRepo) -> list[dict[str, object]]:
    return read_journal(work.upstream / "harness" / JOURNAL)


def assert_refused_regression(work: WorkRepo, result: subprocess.CompletedProcess[str], before: str) -> None:
    """Refused because the real pytest saw test_add fail, with its real assertion."""
    assert result.returncode != 0, result.stderr
    assert "ERROR tests/test_app.py::test_add: regression: passed at" in result.stderr, result.stderr
    assert "assert -1 == 3" in result.stderr, result.stderr
    assert tip(work) == before


# Only gate.test_roles may add such files (the path rules refuse anyone else before a test
# runs); once one is on main, every later run has it in its tree: the sandbox must defuse it.


def test_a_pytest_py_on_main_does_not_shadow_pytest(gated: WorkRepo) -> None:
    clone = gated.clone("agent1")
    fake = 'import sys\nprint("tests/test_app.py::test_add PASSED")\nsys.exit(0)\n'
    commit_file(clone, "pytest.py", fake, "a pytest of our own")
    planted = push(clone, role="lead")
    assert planted.returncode == 0, planted.stderr
    before = tip(gated)
    commit_file(clone, "app.py", BROKEN_ADD, "break add")
    assert_refused_regression(gated, push(clone), before)


def test_a_dist_info_plugin_on_main_is_not_loaded(gated: WorkRepo) -> None:
    clone = gated.clone("agent1")
    commit_file(clone, "evil-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n", "dist")
    commit_file(clone, "evil-1.0.dist-info/entry_points.txt", "[pytest11]\nevil = evil_plugin\n", "entry point")
    commit_file(clone, "evil_plugin.py", PLUGIN, "plugin")
    planted = push(clone, role="lead")
    assert planted.returncode == 0, planted.stderr
    before = tip(gated)
    commit_file(clone, "app.py", BROKEN_ADD, "break add")
    assert_refused_regression(gated, push(clone), before)


def test_the_pushers_pythonpath_and_pytest_addopts_reach_neither_gate_nor_tests(
    gated: WorkRepo, shared_dir: Path
) -> None:
    clone, before = gated.clone("agent1"), tip(gated)
    evil = shared_dir / "pythonpath"
    evil.mkdir()
    marker = shared_dir / "sitecustomize-ran"
    (evil / "sitecustomize.py").write_text(f"open({str(marker)!r}, 'a').write('ran\\n')\n")
    (evil / "evil_plugin.py").write_text(PLUGIN)
    commit_file(clone, "app.py", BROKEN_ADD, "break add")
    result = push(clone, PYTHONPATH=str(evil), PYTEST_ADDOPTS="-p evil_plugin")
    assert_refused_regression(gated, result, before)
    assert not marker.exists()  # neither the gate's Python nor the tests' ever ran it


def test_os_exit_in_the_code_under_test_is_an_untrusted_run_not_a_pass(gated: WorkRepo) -> None:
    clone, before = gated.clone("agent1"), tip(gated)
    commit_file(clone, "app.py", "import os\n" + APP.replace("    return a * b", "    os._exit(0)"), "exit early")
    result = push(clone)
    assert result.returncode != 0
    assert "refused: the test run cannot be trusted" in result.stderr, result.stderr
    assert "without finishing its report" in result.stderr
    assert tip(gated) == before


DAEMON_TEST = """\
import subprocess
import sys
import time

DAEMON = '''
import fcntl, os, sys, time
witness = open(sys.argv[1], "a")
fcntl.flock(witness, fcntl.LOCK_EX)
said = set()


def note(result):
    if result not in said:
        said.add(result)
        witness.write(result + chr(10))
        witness.flush()


while True:
    try:
        names = os.listdir(sys.argv[2])
    except OSError as exc:
        names = []
        note("denied: listing: " + exc.strerror)
    for name in names + ["planted.json"]:
        try:
            with open(os.path.join(sys.argv[2], name), "w") as handle:
                handle.write('{"passed": []}')
            note("wrote " + name)
        except OSError as exc:
            note("denied: " + exc.strerror)
    time.sleep(0.05)
'''


def test_leaves_a_daemon_behind():
    subprocess.Popen([sys.executable, "-c", DAEMON, WITNESS, BASELINES], start_new_session=True)
    deadline = time.monotonic() + 60
    while "denied" not in open(WITNESS).read() and "wrote" not in open(WITNESS).read():
        assert time.monotonic() < deadline, "the daemon never started"
        time.sleep(0.05)
"""


def test_a_setsid_daemon_is_killed_reported_and_cannot_rewrite_the_baseline(gated: WorkRepo, shared_dir: Path) -> None:
    clone = gated.clone("agent1")
    witness = shared_dir / "witness"
    witness.touch()
    witness.chmod(0o666)
    baselines = gated.upstream / "harness" / "baseline"
    before = {p.name: p.read_bytes() for p in baselines.iterdir()}
    paths = f"WITNESS = {str(witness)!r}\nBASELINES = {str(baselines)!r}\n"
    commit_file(clone, "tests/test_daemon.py", paths + DAEMON_TEST, "a test that leaves a daemon")
    result = push(clone)
    assert result.returncode == 0, result.stderr
    assert "outlived the test run and were killed" in result.stderr, result.stderr
    seen = witness.read_text()
    assert "denied" in seen and "wrote" not in seen, seen
    with witness.open("a") as handle:  # the daemon's lock is free: it is dead, not merely quiet
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert {p.name: p.read_bytes() for p in baselines.iterdir() if p.name in before} == before
    assert not (baselines / "planted.json").exists()
    assert "tests/test_daemon.py::test_leaves_a_daemon_behind" in tip_baseline(gated)


def test_a_tampered_baseline_is_measured_again_never_trusted(gated: WorkRepo) -> None:
    clone, before = gated.clone("agent1"), tip(gated)
    path = store(gated).path(before)
    data = json.loads(path.read_text())
    data["passed"].remove("tests/test_app.py::test_add")  # excuse the coming regression
    path.write_text(json.dumps(data))
    commit_file(clone, "app.py", BROKEN_ADD, "break add")
    result = push(clone)
    assert f"fails its integrity check (edited, or not written by this gate); measuring {before[:12]} again" in (
        result.stderr
    )
    assert_refused_regression(gated, result, before)
    assert tip_baseline(gated) == {"tests/test_app.py::test_add", "tests/test_app.py::test_mul"}  # re-measured


def test_the_tests_cannot_reach_a_server_outside_the_sandbox(gated: WorkRepo, listener: socket.socket) -> None:
    clone = gated.clone("agent1")
    port = listener.getsockname()[1]
    body = f"import socket\n\n\ndef test_reach():\n    socket.create_connection(('127.0.0.1', {port}), timeout=10)\n"
    commit_file(clone, "tests/test_net.py", body, "phone home")
    result = push(clone)
    assert result.returncode == 0, result.stderr  # a new failing test blocks nothing
    assert "tests/test_net.py::test_reach" not in tip_baseline(gated)
    listener.setblocking(False)
    with pytest.raises(BlockingIOError):
        listener.accept()  # no connection ever arrived


def test_the_honest_fix_lands(gated: WorkRepo) -> None:
    clone = gated.clone("agent1")
    fixed = APP.replace("    return a + b  # the genuine bug: test_sub fails", "    return a - b")
    commit_file(clone, "app.py", fixed, "fix sub")
    result = push(clone)
    assert result.returncode == 0, result.stderr
    assert "tests/test_app.py::test_sub" in tip_baseline(gated)


def full_runs(work: WorkRepo, since: int) -> list[str]:
    """The names of the whole-suite runs journaled since entry ``since`` (re-runs and the
    pushed forms of new tests run a few ids, not the suite)."""
    return [str(e["run"]) for e in journal(work)[since:] if e["full"]]


def test_a_landed_push_costs_one_suite_run_and_a_lock_only_push_none(gated: WorkRepo) -> None:
    clone = gated.clone("agent1")
    start = len(journal(gated))
    commit_file(clone, "app.py", APP + "\n\ndef div(a, b):\n    return a / b\n", "more code")
    assert push(clone).returncode == 0
    assert full_runs(gated, start) == [f"gate-{tip(gated)[:12]}"]
    counted = len(journal(gated))
    claim = run_harness("claim", "task-1", "--agent", "core-dev-01", cwd=clone)
    assert claim.returncode == 0, claim.stderr
    assert len(journal(gated)) == counted  # the claim ran nothing
    git(clone, "pull", "-q", "--rebase", "origin", "main")
    commit_file(clone, "app.py", APP + "\n\ndef neg(a):\n    return -a\n", "even more code")
    result = push(clone)
    assert result.returncode == 0, result.stderr
    assert "changed only lock files; it inherits the baseline" in result.stderr
    assert full_runs(gated, counted) == [f"gate-{tip(gated)[:12]}"]  # no baseline-<claim tip> run
    assert all(e["isolation"] in ("root", "userns", "none") and e["trusted"] for e in journal(gated))
