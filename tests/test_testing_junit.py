"""JUnit XML from the tools people use; malformed reports fail loudly, naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.testing.junit import parse_bytes, parse_file
from harness.testing.model import Outcome

PYTEST_STYLE = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4">
<testcase classname="tests.test_x" name="test_ok" time="0.01"/>
<testcase classname="tests.test_x" name="test_bad" time="0.02">
  <failure message="assert 1 == 2">long traceback
  more</failure></testcase>
<testcase classname="tests.test_x" name="test_err"><error message="">fixture blew up</error></testcase>
<testcase classname="tests.test_x" name="test_skip"><skipped message="not on linux"/></testcase>
</testsuite></testsuites>"""

CTEST_STYLE = b"""<testsuite name="Linux" tests="2">
<testcase name="parse_ints" classname="parse_ints" time="0.1" status="run"/>
<testsuite name="nested"><testcase name="deep"><failure>exit 3</failure></testcase></testsuite>
</testsuite>"""


def test_pytest_style_report_gives_ids_outcomes_and_one_line_reasons() -> None:
    results = {r.id: r for r in parse_bytes(PYTEST_STYLE, "r.xml")}
    assert results["tests.test_x::test_ok"].outcome is Outcome.PASSED
    assert results["tests.test_x::test_bad"].outcome is Outcome.FAILED
    assert results["tests.test_x::test_bad"].reason == "assert 1 == 2"
    assert results["tests.test_x::test_err"].outcome is Outcome.ERROR
    assert results["tests.test_x::test_err"].reason == "fixture blew up"
    assert results["tests.test_x::test_skip"].outcome is Outcome.SKIPPED


def test_bare_testsuite_root_and_nested_suites_are_read() -> None:
    results = {r.id: r for r in parse_bytes(CTEST_STYLE, "ctest.xml")}
    assert results["parse_ints::parse_ints"].outcome is Outcome.PASSED
    assert results["deep"].outcome is Outcome.FAILED
    assert results["deep"].reason == "exit 3"


def test_truncated_report_names_the_file_and_line(tmp_path: Path) -> None:
    report = tmp_path / "out.xml"
    report.write_bytes(PYTEST_STYLE[:200])
    with pytest.raises(ConfigError, match=r"out\.xml: line \d+: not valid JUnit XML"):
        parse_file(report)


def test_xml_that_is_not_junit_is_refused() -> None:
    with pytest.raises(ConfigError, match="not <testsuites> or <testsuite>"):
        parse_bytes(b"<html><body/></html>", "page.xml")


def test_missing_report_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the JUnit report"):
        parse_file(tmp_path / "nope.xml")
