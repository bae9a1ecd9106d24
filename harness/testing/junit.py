"""JUnit XML → results. Accepts the dialects of pytest, ctest, cargo nextest, go-junit-report:
``<testsuites>`` or a bare ``<testsuite>``, nested suites, ``failure``/``error``/``skipped``.

Test ids are ``classname::name`` (just ``name`` without a classname), stable across runs.
A malformed report is a ConfigError naming the file and the line, never a silent zero.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from harness.errors import ConfigError
from harness.testing.model import Outcome, TestResult, one_line


def parse_file(path: Path) -> list[TestResult]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the JUnit report ({exc.strerror})") from exc
    return parse_bytes(data, str(path))


def parse_bytes(data: bytes, label: str) -> list[TestResult]:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else "?"
        raise ConfigError(
            f"{label}: line {line}: not valid JUnit XML ({_reason(exc)}); fix the test command's report output"
        ) from exc
    if root.tag not in ("testsuites", "testsuite"):
        raise ConfigError(f"{label}: root element <{root.tag}> is not <testsuites> or <testsuite>; not a JUnit report")
    return [_case(case, label, n) for n, case in enumerate(root.iter("testcase"), 1)]


def _reason(exc: ET.ParseError) -> str:
    return str(exc).split(":")[0]


def _case(case: ET.Element, label: str, n: int) -> TestResult:
    name = case.get("name")
    if not name:  # counting it as a pass would let a broken reporter hide a failure
        raise ConfigError(
            f"{label}: <testcase> number {n} has no name attribute; make the test command's reporter name every test"
        )
    classname = case.get("classname") or ""
    tid = f"{classname}::{name}" if classname else name
    seconds = _float(case.get("time"))
    for tag, outcome in (("failure", Outcome.FAILED), ("error", Outcome.ERROR)):
        node = case.find(tag)
        if node is not None:
            reason = one_line(node.get("message") or "") or one_line(node.text or "") or tag
            return TestResult(tid, outcome, reason, seconds)
    skipped = case.find("skipped")
    if skipped is not None:
        return TestResult(tid, Outcome.SKIPPED, one_line(skipped.get("message") or ""), seconds)
    return TestResult(tid, Outcome.PASSED, "", seconds)


def _float(text: str | None) -> float:
    try:
        return float(text or 0)
    except ValueError:
        return 0.0
