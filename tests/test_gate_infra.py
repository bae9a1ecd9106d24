"""Test infrastructure from the push: conftest hooks, runner configuration, plugins, shadows of
pytest, symlinks out of the repository. Never used for the run that judges the push, and
only ``gate.test_roles`` may land them. Real pushes, real pytest."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.attack_project import CALC, PYTEST_INI, Attack, landed, make_attack, refused
from tests.conftest import WorkRepo, git

HOW = "only roles test-lead may change it (HARNESS_ROLE=test-lead git push)"
BROKEN_ADD = CALC.replace("return a + b", "return a + b + 1")
ADD_REGRESSION = "ERROR tests/test_calc.py::test_add: regression: passed at"

# Every failed report becomes a pass.
PASSING_HOOK = """\
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().outcome = "passed"
"""


@pytest.fixture
def attack(work: WorkRepo) -> Attack:
    return make_attack(work)


def infra(path: str, how: str = "added") -> str:
    return f"ERROR {path}: test infrastructure {how} by this push (not used for this run); {HOW}"


def test_a_conftest_hook_turning_failures_into_passes_is_refused_and_never_used(attack: Attack) -> None:
    attack.commit({"calc.py": BROKEN_ADD, "tests/conftest.py": PASSING_HOOK}, "speed up the suite")
    refused(attack.push(), infra("tests/conftest.py"))
    # Even a test role's new conftest is not used for the run that judges its push.
    refused(attack.push("test-lead"), ADD_REGRESSION)


def test_an_innocent_conftest_needs_a_test_role(attack: Attack) -> None:
    attack.commit({"conftest.py": "# fixtures will go here\n"}, "prepare")
    refused(attack.push(), infra("conftest.py"))
    landed(attack.push("test-lead"))


def test_addopts_loading_a_plugin_from_pytest_ini_is_refused(attack: Attack) -> None:
    files = {
        "calc.py": BROKEN_ADD,
        "greenplugin.py": PASSING_HOOK,
        "pytest.ini": PYTEST_INI + "addopts = -p greenplugin\n",
    }
    attack.commit(files, "plugin")
    push = attack.push()
    refused(push, infra("pytest.ini", "changed"))
    assert "greenplugin.py" not in push.stderr  # a new module outside the verifier is code
    refused(attack.push("test-lead"), ADD_REGRESSION)


def test_pytest_options_in_pyproject_are_refused_but_other_sections_land(attack: Attack) -> None:
    project = '[project]\nname = "calc"\nversion = "0.1"\n'
    attack.commit({"pyproject.toml": project}, "packaging")
    landed(attack.push())  # nothing pytest reads
    options = '\n[tool.pytest.ini_options]\naddopts = "-p greenplugin"\n'
    attack.commit({"calc.py": BROKEN_ADD, "greenplugin.py": PASSING_HOOK, "pyproject.toml": project + options})
    refused(attack.push(), infra("pyproject.toml", "changed"))
    attack.reset()
    attack.commit({"pyproject.toml": project.replace("0.1", "0.2")}, "bump")
    landed(attack.push())


def test_a_pytest_module_at_the_root_shadowing_pytest_is_refused(attack: Attack) -> None:
    attack.commit({"calc.py": BROKEN_ADD, "pytest.py": "import sys\nprint('all green')\nsys.exit(0)\n"})
    refused(attack.push(), infra("pytest.py"))


def test_a_committed_dist_info_announcing_a_plugin_is_refused(attack: Attack) -> None:
    dist = "green-1.0.dist-info"
    files = {
        "calc.py": BROKEN_ADD,
        "greenplugin.py": PASSING_HOOK,
        f"{dist}/METADATA": "Metadata-Version: 2.1\nName: green\nVersion: 1.0\n",
        f"{dist}/entry_points.txt": "[pytest11]\ngreen = greenplugin\n",
    }
    attack.commit(files, "vendored")
    push = attack.push()
    refused(push, infra(f"{dist}/entry_points.txt"), infra(f"{dist}/METADATA"))


def test_a_sitecustomize_at_the_root_is_refused(attack: Attack) -> None:
    attack.commit({"sitecustomize.py": "import calc\ncalc.add = lambda a, b: a + b\n"})
    refused(attack.push(), infra("sitecustomize.py"))


def test_a_conftest_symlinked_to_a_file_outside_the_repository_is_refused(attack: Attack, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "conftest.py"
    outside.parent.mkdir()
    outside.write_text("# harmless today; rewritten once it has landed\n")
    (attack.clone / "tests" / "conftest.py").symlink_to(outside)
    git(attack.clone, "add", "tests/conftest.py")
    attack.commit({}, "shared fixtures")
    push = attack.push("test-lead")  # not even a test role: what it points at is in no commit
    refused(push, f"ERROR tests/conftest.py: symlink to {outside} points outside the repository")


def test_a_shadow_copy_of_the_code_next_to_the_tests_is_not_in_the_run(attack: Attack) -> None:
    # tests/ comes first on sys.path (pytest's prepend import mode): tests/calc.py would win.
    attack.commit({"calc.py": BROKEN_ADD, "tests/calc.py": CALC}, "cache")
    refused(attack.push(), ADD_REGRESSION)


def test_a_changed_support_file_under_tests_needs_a_test_role(attack: Attack) -> None:
    attack.commit({"tests/data.txt": "5\n"}, "data for a new test")
    landed(attack.push())  # a new support file: only new tests see it
    attack.commit({"tests/data.txt": "6\n"}, "tweak the data")
    refused(attack.push(), infra("tests/data.txt", "changed"))


# -- forged results (the sandbox's other channels: tests/test_gate_isolation.py) ---------------


def test_fake_passed_lines_printed_by_the_code_are_not_results(attack: Attack) -> None:
    ids = ["tests/test_calc.py::test_add", "tests/test_more.py::test_add_zero", "tests/test_more.py::test_add_negative"]
    forge = "\nimport atexit\n" + "".join(f"atexit.register(print, '{tid} PASSED')\n" for tid in ids)
    attack.commit({"calc.py": BROKEN_ADD + forge}, "break add, forge the result")
    refused(attack.push(), ADD_REGRESSION)
