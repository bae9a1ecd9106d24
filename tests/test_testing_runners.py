"""The three runners on real processes: outcomes, timeouts, crashes, and no lost results."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from harness.config import SuiteSettings
from harness.testing.model import Outcome
from harness.testing.suite import run_suite


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def files_settings(**kw: object) -> SuiteSettings:
    base: dict[str, object] = {"runner": "files", "glob": "t/*.sh", "run": "sh {test}", "timeout_seconds": 5}
    base.update(kw)
    return SuiteSettings(**base)  # type: ignore[arg-type]


def test_files_runner_reports_pass_fail_timeout_and_crash(tmp_path: Path) -> None:
    write(tmp_path, "t/ok.sh", "echo fine\n")
    write(tmp_path, "t/bad.sh", "echo 'expected 3, got 4'\nexit 2\n")
    write(tmp_path, "t/hang.sh", "sleep 60 &\nsleep 60\n")
    write(tmp_path, "t/crash.sh", "kill -SEGV $$\n")
    start = time.monotonic()
    run = run_suite(tmp_path, files_settings(timeout_seconds=1), tmp_path / "log" / "run.log")
    assert time.monotonic() - start < 10  # the hanging test and its child were killed
    r = run.results
    assert r["t/ok.sh"].outcome is Outcome.PASSED
    assert r["t/bad.sh"].outcome is Outcome.FAILED
    assert r["t/bad.sh"].reason == "exit 2: expected 3, got 4"
    assert r["t/hang.sh"].outcome is Outcome.TIMEOUT
    assert r["t/hang.sh"].reason == "timed out after 1 s"
    assert r["t/crash.sh"].outcome is Outcome.FAILED
    assert "SIGSEGV" in r["t/crash.sh"].reason or "exit 139" in r["t/crash.sh"].reason
    log = run.log_path.read_text()
    assert "=== t/bad.sh: failed" in log and "expected 3, got 4" in log


def test_files_runner_runs_only_the_selected_tests(tmp_path: Path) -> None:
    for i in range(10):
        write(tmp_path, f"t/{i}.sh", "exit 0\n")
    run = run_suite(tmp_path, files_settings(), tmp_path / "run.log", only=["t/3.sh", "t/7.sh"])
    assert set(run.results) == {"t/3.sh", "t/7.sh"}
    assert run.selected == ("t/3.sh", "t/7.sh")


def test_files_runner_reports_progress_on_long_runs(tmp_path: Path) -> None:
    for i in range(4):
        write(tmp_path, f"t/{i}.sh", "sleep 0.3\n")
    said: list[str] = []
    run_suite(tmp_path, files_settings(workers=1, progress_seconds=0), tmp_path / "run.log", say=said.append)
    assert said and said[-1].startswith("progress: 4/4 done, 0 failed")


def test_fast_sample_is_deterministic_and_keeps_last_failures(tmp_path: Path) -> None:
    for i in range(200):
        write(tmp_path, f"t/{i:03d}.sh", "exit 0\n")
    one = run_suite(tmp_path, files_settings(), tmp_path / "a.log", fraction=0.05, seed="core-dev-03")
    two = run_suite(tmp_path, files_settings(), tmp_path / "b.log", fraction=0.05, seed="core-dev-03")
    assert one.selected == two.selected and 0 < len(one.selected) < 30
    outside = next(f"t/{i:03d}.sh" for i in range(200) if f"t/{i:03d}.sh" not in one.selected)
    three = run_suite(
        tmp_path, files_settings(), tmp_path / "c.log", fraction=0.05, seed="core-dev-03", always=[outside]
    )
    assert set(three.selected) == {*one.selected, outside}
    assert one.total == 200


def test_pytest_runner_gives_node_ids_reasons_and_collection_errors(tmp_path: Path) -> None:
    write(
        tmp_path,
        "tests/test_a.py",
        "import pytest\n"
        "def test_ok(): pass\n"
        "def test_bad(): assert 1 == 2\n"
        "@pytest.mark.parametrize('x', [1, 2])\n"
        "def test_p(x): assert x == 1\n",
    )
    write(tmp_path, "tests/test_broken.py", "import not_a_module_anywhere\n")
    settings = SuiteSettings(runner="pytest", args=("tests",), command=f"{sys.executable} -m pytest")
    run = run_suite(tmp_path, settings, tmp_path / "run.log")
    r = run.results
    assert r["tests/test_a.py::test_ok"].outcome is Outcome.PASSED
    assert r["tests/test_a.py::test_bad"].outcome is Outcome.FAILED
    assert r["tests/test_a.py::test_bad"].reason == "assert 1 == 2"
    assert r["tests/test_a.py::test_p[1]"].outcome is Outcome.PASSED
    assert r["tests/test_a.py::test_p[2]"].outcome is Outcome.FAILED
    assert r["tests/test_broken.py"].outcome is Outcome.ERROR
    only = run_suite(tmp_path, settings, tmp_path / "r2.log", only=["tests/test_a.py::test_p[2]"])
    assert set(only.results) == {"tests/test_a.py::test_p[2]"}


def test_junit_runner_reads_the_report_the_command_writes(tmp_path: Path) -> None:
    xml = (
        '<testsuite><testcase classname="c" name="a"/>'
        '<testcase classname="c" name="b"><failure message="boom"/></testcase></testsuite>'
    )
    write(tmp_path, "report.xml.in", xml)
    settings = SuiteSettings(runner="junit", command="cp report.xml.in {junit}; exit 1")
    run = run_suite(tmp_path, settings, tmp_path / "run.log")
    assert run.results["c::a"].outcome is Outcome.PASSED
    assert run.results["c::b"].reason == "boom"
    assert not run.problems


def test_junit_runner_with_malformed_report_is_a_clear_problem_and_keeps_the_report(tmp_path: Path) -> None:
    write(tmp_path, "out/r.xml", "<testsuite><testcase name='a'>")
    settings = SuiteSettings(runner="junit", command="echo ran", report="out/*.xml")
    run = run_suite(tmp_path, settings, tmp_path / "run.log")
    assert len(run.problems) == 1
    assert "r.xml: line 1: not valid JUnit XML" in run.problems[0]
    assert str(tmp_path / "run.log") in run.problems[0]
    assert "<testcase name='a'>" in (tmp_path / "run.log").read_text()  # evidence kept


def test_junit_runner_that_crashes_without_a_report_says_so(tmp_path: Path) -> None:
    settings = SuiteSettings(runner="junit", command="echo 'segfault in harness' >&2; kill -SEGV $$ ; true {junit}")
    run = run_suite(tmp_path, settings, tmp_path / "run.log")
    assert run.problems and "wrote no JUnit report" in run.problems[0]
    assert "segfault in harness" in (tmp_path / "run.log").read_text()


def test_a_selected_test_without_a_result_is_an_error_not_a_silent_gap(tmp_path: Path) -> None:
    write(tmp_path, "report.xml.in", '<testsuite><testcase name="a"/></testsuite>')
    settings = SuiteSettings(runner="junit", command="cp report.xml.in {junit}")
    run = run_suite(tmp_path, settings, tmp_path / "run.log", only=["a", "b"])
    assert run.results["a"].outcome is Outcome.PASSED
    assert run.results["b"].outcome is Outcome.ERROR
    assert "no result reported" in run.results["b"].reason
