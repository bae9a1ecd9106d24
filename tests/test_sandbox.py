"""The gate's sandbox on real processes, in each mode this machine allows; the pytest reporter
and the runners' cross-checks; baseline integrity and inheritance rules."""

from __future__ import annotations

import fcntl
import json
import socket
import threading
from pathlib import Path

import pytest

from harness.config import SuiteSettings
from harness.gate import lineage
from harness.gate.baseline import Baseline, BaselineStore
from harness.git.repo import GitRepo
from harness.runtime.sandbox import Isolation, Mode, Ran, Sandbox, detect
from harness.testing.isolated import read_report
from harness.testing.model import Outcome
from harness.testing.suite import run_suite
from tests.conftest import WorkRepo, commit_file

needs_root_mode = pytest.mark.skipif(detect().mode is not Mode.ROOT, reason="needs the root sandbox (run as root)")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "file.txt").write_text("original\n")
    return root


def reach(port: int) -> str:
    """A shell command that tries the outside listener and says how it went."""
    code = f"import socket\ntry:\n socket.create_connection(('127.0.0.1',{port}),timeout=5); print('CONNECTED')\n"
    code += "except OSError as e:\n print('NO NETWORK', e)\n"
    return f'python -c "{code}"'


@needs_root_mode
def test_concurrent_boxes_run_as_uids_of_their_own_and_cannot_touch_each_other(tree: Path, shared_dir: Path) -> None:
    protected = shared_dir / "state"
    protected.mkdir()
    protected.chmod(0o777)  # even a world-writable path is read-only to the tests when protected
    sandbox = Sandbox(protect=[protected])
    with sandbox.box(tree) as left, sandbox.box(tree) as right:
        outputs: dict[str, Ran] = {}

        def run(name: str, box_root: Path, other: Path) -> None:
            box = left if name == "left" else right
            script = f"id -u; echo mine > file.txt; touch {other}/file.txt; touch {protected}/x; cat file.txt"
            outputs[name] = box.run(script, 60)

        threads = [
            threading.Thread(target=run, args=("left", left.root, right.root)),
            threading.Thread(target=run, args=("right", right.root, left.root)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        uids = {name: int(ran.output.split()[0]) for name, ran in outputs.items()}
        assert len(set(uids.values())) == 2 and 0 not in uids.values(), uids
        for ran in outputs.values():
            assert "Permission denied" in ran.output and "Read-only file system" in ran.output, ran.output
            assert "mine" in ran.output  # its own copy is writable
    assert (tree / "file.txt").read_text() == "original\n"  # the tree itself never is
    assert not any(protected.iterdir())


def test_user_namespace_mode_has_no_capabilities_no_network_and_read_only_protected_paths(
    tree: Path, shared_dir: Path, listener: socket.socket
) -> None:
    """The mode of a gate that is not root (here forced, as root maps onto itself the same way)."""
    protected = shared_dir / "state"
    protected.mkdir()
    sandbox = Sandbox(protect=[protected], isolation=Isolation(Mode.USERNS))
    port = listener.getsockname()[1]
    with sandbox.box(tree) as box:
        if box.run(["/bin/true"], 60).returncode != 0:
            pytest.skip("user namespaces are not available here")
        ran = box.run(f"grep CapEff /proc/self/status; touch {protected}/x; {reach(port)}", 60)
    assert "CapEff:\t0000000000000000" in ran.output, ran.output
    assert "Read-only file system" in ran.output
    assert "NO NETWORK" in ran.output and "CONNECTED" not in ran.output
    assert not any(protected.iterdir())


def test_without_namespaces_it_warns_once_and_still_kills_a_setsid_daemon(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", "/pusher/path")
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p evil")
    said: list[str] = []
    sandbox = Sandbox(isolation=Isolation(Mode.NONE, why="forced by this test"), say=said.append)
    assert said == [
        "WARNING gate: tests run without a sandbox (forced by this test): no network isolation, no write protection, "
        "daemons tracked by parentage only; see docs/gate.md#isolation"
    ]
    lock, ready = tmp_path / "lock", tmp_path / "ready"
    daemon = f"import fcntl,time; f=open('{lock}','a'); fcntl.flock(f,fcntl.LOCK_EX); open('{ready}','w')"
    daemon += "; time.sleep(300)"
    script = f'env; setsid python -c "{daemon}" & while [ ! -e {ready} ]; do sleep 0.05; done'
    with sandbox.box(tree) as box:
        ran = box.run(script, 60)
    assert ran.returncode == 0 and len(ran.survivors) == 1 and "python -c import fcntl" in ran.survivors[0], ran
    assert "outlived the test run and were killed" in said[-1]
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # its holder is dead
    names = {line.split("=", 1)[0] for line in ran.output.splitlines() if "=" in line}
    assert names <= {"PATH", "HOME", "TMPDIR", "LANG", "PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PWD", "SHLVL", "_"}, names


def test_a_command_that_overruns_is_killed_with_all_it_started(tree: Path) -> None:
    with Sandbox().box(tree) as box:
        ran = box.run("sleep 60 & setsid sleep 60 & sleep 60", 1)
    assert ran.returncode is None and not ran.problems and ran.seconds < 30


PROJECT = {
    "tests/test_kinds.py": (
        "import pytest\n\n"
        "def test_pass(): pass\n"
        "def test_fail(): assert 1 == 2\n"
        "@pytest.mark.skip(reason='not today')\ndef test_skip(): pass\n"
        "@pytest.mark.xfail(reason='known')\ndef test_xfail(): assert False\n"
        "@pytest.fixture\ndef broken(): raise RuntimeError('setup broke')\n"
        "def test_setup_error(broken): pass\n"
        "@pytest.fixture\ndef bad_teardown():\n    yield\n    raise RuntimeError('teardown broke')\n"
        "def test_teardown_error(bad_teardown): pass\n"
    ),
    "tests/test_unimportable.py": "import no_such_module\n",
}


def test_the_gates_pytest_run_reports_every_kind_of_outcome(tmp_path: Path) -> None:
    root = tmp_path / "project"
    for rel, text in PROJECT.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    run = run_suite(root, SuiteSettings(), tmp_path / "run.log", sandbox=Sandbox())
    assert not run.problems, run.problems
    got = {tid.split("::")[-1]: (r.outcome, r.reason) for tid, r in run.results.items()}
    assert got["test_pass"] == (Outcome.PASSED, "")
    assert got["test_fail"] == (Outcome.FAILED, "assert 1 == 2")
    assert got["test_skip"][0] is Outcome.SKIPPED and got["test_xfail"] == (Outcome.SKIPPED, "xfail")
    assert got["test_setup_error"] == (Outcome.ERROR, "RuntimeError: setup broke")
    assert got["test_teardown_error"] == (Outcome.ERROR, "RuntimeError: teardown broke")
    assert got["tests/test_unimportable.py"][0] is Outcome.ERROR
    assert "no_such_module" in got["tests/test_unimportable.py"][1]


def line(**record: object) -> str:
    return json.dumps(record) + "\n"


COLLECTED = line(collected=["t::a", "t::b"])
A_OK, B_OK = line(test="t::a", outcome="passed"), line(test="t::b", outcome="passed")
B_BAD = line(test="t::b", outcome="failed", reason="assert 1 == 2")


@pytest.mark.parametrize(
    ("code", "report", "problem"),
    [
        (0, COLLECTED + A_OK + B_BAD + line(exitstatus=0), "pytest exited 0 with 1 failing test(s)"),
        (1, COLLECTED + A_OK + B_OK + line(exitstatus=1), "pytest exited 1 (tests failed) but its report has no"),
        (0, COLLECTED + A_OK, "without finishing its report"),
        (0, COLLECTED + A_OK + line(exitstatus=0), "1 of 2 collected test(s) have no reported outcome"),
        (0, COLLECTED + A_OK + A_OK + B_OK + line(exitstatus=0), "t::a: reported twice"),
        (0, COLLECTED + A_OK + B_OK + line(test="t::c", outcome="passed") + line(exitstatus=0), "never collected"),
        (1, COLLECTED + A_OK + B_BAD + line(exitstatus=0), "pytest exit 1, but its report says exit 0"),
        (3, COLLECTED + line(exitstatus=3), "internal error"),
        (0, "PASSED t::a\n", "not a JSON object"),
        (None, COLLECTED + A_OK, "timed out after 60 s"),
    ],
)
def test_a_report_that_disagrees_with_the_run_is_untrusted(code: int | None, report: str, problem: str) -> None:
    found = read_report(Ran(code, "", 1.0, report.encode()), 60)
    assert any(problem in p for p in found.problems), found.problems


def test_a_consistent_report_is_trusted() -> None:
    found = read_report(Ran(1, "", 1.0, (COLLECTED + A_OK + B_BAD + line(exitstatus=1)).encode()), 60)
    assert not found.problems
    assert {r.id: r.outcome for r in found.results} == {"t::a": Outcome.PASSED, "t::b": Outcome.FAILED}


def test_junit_and_files_commands_run_in_the_box_and_are_cross_checked(tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "t").mkdir(parents=True)
    (root / "t" / "writes.sh").write_text("echo x > here.txt\n")
    files = SuiteSettings(runner="files", glob="t/*.sh", run="cd t && sh $(basename {test})")
    run = run_suite(root, files, tmp_path / "files.log", sandbox=Sandbox())
    assert not run.problems and not (root / "t" / "here.txt").exists()  # it wrote its own copy
    passing = '<testsuite><testcase classname="c" name="n"/></testsuite>'
    lying = SuiteSettings(runner="junit", command=f"echo '{passing}' > {{junit}}; exit 1")
    run = run_suite(root, lying, tmp_path / "junit.log", sandbox=Sandbox())
    assert run.problems and "exit 1 but its JUnit report has no failing test" in run.problems[0]


def test_a_baseline_edited_on_disk_fails_its_integrity_check(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path / "harness" / "baseline")
    path = store.path("a" * 40)
    store.save(Baseline("a" * 40, frozenset({"t::x", "t::y"})))
    assert store.load("a" * 40) is not None
    assert (store.key_path.stat().st_mode & 0o777) == 0o600 and (path.stat().st_mode & 0o777) == 0o644
    store.path("b" * 40).write_bytes(path.read_bytes())  # a valid file under another tip's name
    assert store.load("b" * 40) is None and "not a baseline of" in store.check("b" * 40).problem
    data = json.loads(path.read_text())
    data["passed"] = ["t::x"]
    path.write_text(json.dumps(data))
    assert store.load("a" * 40) is None and "fails its integrity check" in store.check("a" * 40).problem


def test_a_tip_inherits_through_lock_files_only(work: WorkRepo) -> None:
    clone, repo = work.first_clone, GitRepo(work.first_clone)
    store = BaselineStore(work.base / "state" / "baseline")
    measured = commit_file(clone, "app.py", "x = 1\n", "code")
    store.save(Baseline(measured, frozenset({"t::a"}), {"t::b": 1}))
    commit_file(clone, "current_tasks/t1.lock", "task: t1\n", "claim: t1")
    claimed = commit_file(clone, "current_tasks/t2.lock", "task: t2\n", "claim: t2")
    found = lineage.inherited(repo, claimed, store.load)
    assert found is not None and found.tip == claimed
    assert found.passed == {"t::a"} and dict(found.flaky) == {"t::b": 1}
    worked = commit_file(clone, "app.py", "x = 2\n", "more code")
    assert lineage.inherited(repo, worked, store.load) is None  # code changed since: measure it
    helper = commit_file(clone, "current_tasks/helper.py", "", "not a lock")
    assert lineage.inherited(repo, helper, lambda tip: store.load(tip) or store.load(measured)) is None
