"""The verifier's pure parts: which tests a file change touches, which paths are the
verifier for each runner, and the config and spec fields that name them."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import GateSettings, SuiteSettings, load_config, read_gate_settings
from harness.errors import ConfigError
from harness.gate.paths import glob_match
from harness.gate.testdiff import diff_test_file
from harness.gate.verifier import Kind, Verifier, pytest_section
from harness.tasks.specs import parse_spec

OLD = b'''"""Tests of calc."""
from calc import add, sub


def helper():
    return 1


def test_add():
    assert add(2, 3) == 5


def test_sub():
    assert sub(5, 3) == 2


class TestMore:
    def test_a(self):
        assert add(0, 1) == 1

    def test_b(self):
        assert add(1, 1) == 2
'''


def changed(new: bytes | None) -> set[str] | str:
    diff = diff_test_file(OLD, new)
    return "every" if diff.every else set(diff.names)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ((b"sub(5, 3) == 2", b"sub(5, 3) == 3"), {"test_sub"}),
        ((b"def test_sub", b"@pytest.mark.skip\ndef test_sub"), {"test_sub"}),
        ((b"def test_sub", b"def test_sub_renamed"), {"test_sub"}),
        ((b"assert add(1, 1) == 2", b"assert add(1, 1) >= 0"), {"TestMore::test_b"}),
        ((b"return 1", b"return 2"), "every"),  # a helper any test may use
        ((b'"""Tests of calc."""', b'"""Tests of the calculator."""\n# comment'), set()),
        ((b"from calc import add, sub\n", b"from calc import add, sub\nimport pytest\nLIMIT = 1\n"), set()),
        ((b"from calc import add, sub\n", b"from calc import add, sub\npytestmark = []\n"), "every"),
        ((b"from calc import add, sub\n", b"from calc import add, sub\nhelper = None\n"), "every"),  # rebinds
        ((b"from calc import add, sub\n", b"from calc import add, sub\nadd = sub\n"), "every"),
    ],
)
def test_which_tests_an_edit_changes(edit: tuple[bytes, bytes], expected: set[str] | str) -> None:
    assert changed(OLD.replace(*edit)) == expected


def test_adding_tests_changes_none_and_removing_the_file_changes_all() -> None:
    assert changed(OLD + b"\n\ndef test_new():\n    assert add(1, 2) == 3\n") == set()
    assert changed(None) == "every"
    assert changed(b"def broken(:\n") == "every"


def test_a_diff_covers_node_ids_with_parameters_and_classes() -> None:
    diff = diff_test_file(OLD, OLD.replace(b"assert add(1, 1) == 2", b"assert 1"))
    assert diff.covers("tests/t.py::TestMore::test_b") and not diff.covers("tests/t.py::TestMore::test_a")
    diff = diff_test_file(OLD, OLD.replace(b"sub(5, 3) == 2", b"sub(5, 3) == 3"))
    assert diff.covers("tests/t.py::test_sub[1-2]") and not diff.covers("tests/t.py::test_add")
    assert diff.covers("tests/t.py")  # a collection error of the file itself


@pytest.mark.parametrize(
    ("path", "pattern", "hit"),
    [
        ("tests/test_a.py", "**/test_*.py", True),
        ("test_a.py", "**/test_*.py", True),
        ("tests/sub/test_a.py", "tests/*.py", False),
        ("tests/sub/data.txt", "tests/", True),
        ("t/x.sh", "./t/*.sh", True),
        ("green-1.0.dist-info/METADATA", "*.dist-info/", True),
        ("vendor/green-1.0.dist-info/METADATA", "*.dist-info/", False),
    ],
)
def test_glob_match(path: str, pattern: str, hit: bool) -> None:
    assert glob_match(path, pattern) is hit


def test_pytest_verifier_kinds() -> None:
    verifier = Verifier.at(SuiteSettings(), GateSettings(protected=("verify/",)), ["calc.py"])
    kinds = {
        p: verifier.kind(p)
        for p in (
            "tests/test_calc.py",
            "src/pkg/calc_test.py",
            "tests/conftest.py",
            "conftest.py",
            "pytest.ini",
            "tests/pyproject.toml",
            "pytest.py",
            "sitecustomize.py",
            "tests/helpers.py",
            "harness.yaml",
            "verify/check.sh",
            "calc.py",
        )
    }
    assert kinds == {
        "tests/test_calc.py": Kind.TEST,
        "src/pkg/calc_test.py": Kind.TEST,
        "tests/conftest.py": Kind.HOOK,
        "conftest.py": Kind.HOOK,
        "pytest.ini": Kind.CONFIG,
        "tests/pyproject.toml": Kind.CONFIG,
        "pytest.py": Kind.HOOK,
        "sitecustomize.py": Kind.HOOK,
        "tests/helpers.py": Kind.SUPPORT,
        "harness.yaml": Kind.PROTECTED,
        "verify/check.sh": Kind.PROTECTED,
        "calc.py": None,
    }
    assert verifier.file_of("tests/test_calc.py::TestK::test_a[1]") == "tests/test_calc.py"


def test_files_and_junit_verifiers_are_the_glob_and_the_runner_script() -> None:
    files = SuiteSettings(runner="files", glob="cases/**/*.c", run="./run_one.sh {test}")
    verifier = Verifier.at(files, GateSettings(), ["run_one.sh", "cases/a.c"])
    assert verifier.kind("cases/x/a.c") is Kind.TEST and verifier.kind("run_one.sh") is Kind.HOOK
    assert verifier.kind("src/a.c") is None and verifier.file_of("cases/a.c") == "cases/a.c"
    junit = SuiteSettings(runner="junit", command="sh ci/test.sh {junit}")
    verifier = Verifier.at(junit, GateSettings(verifier=("ci/data/",)), ["ci/test.sh"])
    assert verifier.kind("ci/test.sh") is Kind.HOOK and verifier.kind("ci/data/x.json") is Kind.SUPPORT


def test_only_the_pytest_section_of_a_shared_config_file_counts() -> None:
    before = b'[project]\nname = "a"\n[tool.pytest.ini_options]\naddopts = "-q"\n'
    after = before.replace(b'name = "a"', b'name = "b"')
    assert pytest_section("pyproject.toml", before) == pytest_section("pyproject.toml", after)
    assert pytest_section("pyproject.toml", before) != pytest_section("pyproject.toml", before.replace(b"-q", b"-p x"))
    assert pytest_section("setup.cfg", b"[metadata]\nname = a\n") is None
    assert pytest_section("tox.ini", b"[pytest]\naddopts = -p x\n") == {"addopts": "-p x"}
    assert pytest_section("pyproject.toml", b"[broken") == b"[broken"  # unparsable: any change counts


def test_gate_config_fields_are_validated(tmp_path: Path) -> None:
    (tmp_path / "harness.yaml").write_text("version: 1\ngate:\n  test_roles: [test-lead]\n  verifier: [tests/]\n")
    settings = read_gate_settings(load_config(tmp_path))
    assert settings.test_roles == ("test-lead",) and settings.verifier == ("tests/",)
    (tmp_path / "harness.yaml").write_text("version: 1\ngate:\n  test_roles: 3\n")
    with pytest.raises(ConfigError, match=r"harness.yaml: gate.test_roles: expected a list of strings, got 3"):
        read_gate_settings(load_config(tmp_path))


def test_a_spec_names_its_acceptance_tests() -> None:
    spec = parse_spec("tasks/a.yaml", b"title: A\naccept: [tests/test_a.py::test_x]\n")
    assert spec.accept == ("tests/test_a.py::test_x",)
    assert parse_spec("tasks/a.yaml", spec.to_yaml()).accept == spec.accept
    with pytest.raises(ConfigError, match=r"tasks/a.yaml: accept: expected a list of strings"):
        parse_spec("tasks/a.yaml", b"title: A\naccept: {x: 1}\n")
