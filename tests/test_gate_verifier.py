"""Changed tests: every way to make the failing test (or a broken one) look green is refused;
the honest fix and a test refactor whose old form passes land. Real pushes, real pytest."""

from __future__ import annotations

import pytest

from tests.attack_project import (
    CALC,
    FAILING,
    FIXED_CALC,
    PASSING,
    PYTEST_INI,
    TEST_CALC,
    Attack,
    landed,
    make_attack,
    refused,
)
from tests.conftest import WorkRepo

HOW = "only roles test-lead may change it (HARNESS_ROLE=test-lead git push)"
OLD_FORM_FAILS = f"ERROR {FAILING}: changed test fails in its old form; {HOW}"


@pytest.fixture
def attack(work: WorkRepo) -> Attack:
    return make_attack(work)


def test_failing_test_edited_to_assert_the_buggy_output_is_refused(attack: Attack) -> None:
    attack.commit({"tests/test_calc.py": TEST_CALC.replace("sub(5, 3) == 2", "sub(5, 3) == 3")}, "fix test")
    push = attack.push()
    refused(push, OLD_FORM_FAILS)
    assert push.errors() == [OLD_FORM_FAILS]  # the other tests of the file were not touched


def test_failing_test_deleted_is_refused(attack: Attack) -> None:
    attack.commit({"tests/test_calc.py": TEST_CALC.split("\n\ndef test_sub")[0] + "\n"}, "drop a test")
    refused(attack.push(), OLD_FORM_FAILS)


def test_failing_test_file_deleted_is_refused(attack: Attack) -> None:
    attack.commit({"tests/test_calc.py": None}, "drop the file")
    refused(attack.push(), OLD_FORM_FAILS)


def test_failing_test_skipped_is_refused(attack: Attack) -> None:
    skipped = TEST_CALC.replace("from calc", "import pytest\nfrom calc").replace(
        "def test_sub", "@pytest.mark.skip(reason='later')\ndef test_sub"
    )
    attack.commit({"tests/test_calc.py": skipped}, "skip")
    refused(attack.push(), OLD_FORM_FAILS)


def test_failing_test_xfailed_is_refused(attack: Attack) -> None:
    xfailed = TEST_CALC.replace("from calc", "import pytest\nfrom calc").replace(
        "def test_sub", "@pytest.mark.xfail\ndef test_sub"
    )
    attack.commit({"tests/test_calc.py": xfailed}, "xfail")
    refused(attack.push(), OLD_FORM_FAILS)


def test_module_level_skip_marks_every_test_of_the_file_changed(attack: Attack) -> None:
    attack.commit({"tests/test_calc.py": "import pytest\npytestmark = pytest.mark.skip\n" + TEST_CALC}, "skip all")
    refused(attack.push(), OLD_FORM_FAILS)


def test_failing_test_deselected_through_addopts_is_refused(attack: Attack) -> None:
    attack.commit({"pytest.ini": PYTEST_INI + f"addopts = --deselect {FAILING}\n"}, "deselect")
    push = attack.push()
    refused(push, "ERROR pytest.ini: test infrastructure changed by this push (not used for this run); " + HOW)


def test_failing_test_renamed_is_refused(attack: Attack) -> None:
    attack.commit({"tests/test_calc.py": TEST_CALC.replace("def test_sub", "def test_subtract_later")}, "rename")
    refused(attack.push(), OLD_FORM_FAILS)


def test_changing_a_helper_the_failing_test_uses_counts_as_changing_it(attack: Attack) -> None:
    with_helper = TEST_CALC.replace("== 2", "== want_sub()") + "\n\ndef want_sub():\n    return 2\n"
    attack.commit({"tests/test_calc.py": with_helper}, "a helper")
    landed(attack.push("test-lead"))  # test_sub's old form fails: only a test role may touch it
    attack.commit({"tests/test_calc.py": with_helper.replace("return 2", "return 3")}, "adjust the helper")
    refused(attack.push(), OLD_FORM_FAILS)


def test_a_constant_added_beside_the_failing_test_lands(attack: Attack) -> None:
    with_constant = TEST_CALC.replace("from calc import add, mul, sub\n", "from calc import add, mul, sub\n\nSIX = 6\n")
    attack.commit({"tests/test_calc.py": with_constant.replace("mul(2, 3) == 6", "mul(2, 3) == SIX")}, "name it")
    landed(attack.push())  # test_mul changed and its old form passes; test_sub untouched


def test_passing_test_loosened_together_with_broken_code_is_refused(attack: Attack) -> None:
    attack.commit(
        {
            "calc.py": CALC.replace("return a * b", "return a * b + 1"),
            "tests/test_calc.py": TEST_CALC.replace("mul(2, 3) == 6", "mul(2, 3) in (6, 7)"),
        },
        "faster mul",
    )
    push = attack.push()
    refused(push, "ERROR tests/test_calc.py::test_mul: regression: passed at")
    assert "ERROR tests/test_calc.py::test_mul: changed test fails in its old form" in push.stderr


def test_the_honest_fix_lands_and_ratchets_the_failing_test_in(attack: Attack) -> None:
    push = attack.push()  # nothing to push yet: main is where we are
    assert push.returncode == 0
    attack.commit({"calc.py": FIXED_CALC}, "fix sub")
    landed(attack.push())
    assert attack.baseline() == PASSING | {FAILING}
    attack.commit({"calc.py": CALC}, "bring the bug back")
    refused(attack.push(), f"ERROR {FAILING}: regression: passed at")


def test_after_a_refused_hack_the_honest_fix_still_lands(attack: Attack) -> None:
    attack.commit({"tests/test_calc.py": TEST_CALC.replace("sub(5, 3) == 2", "sub(5, 3) == 3")}, "hack")
    refused(attack.push(), OLD_FORM_FAILS)
    attack.reset()
    attack.commit({"calc.py": FIXED_CALC}, "fix sub")
    landed(attack.push())


def test_a_refactor_whose_old_form_passes_lands_and_the_new_form_joins_the_baseline(attack: Attack) -> None:
    refactored = TEST_CALC.replace("from calc", "import pytest\nfrom calc").replace(
        "def test_mul():\n    assert mul(2, 3) == 6",
        "@pytest.mark.parametrize('a, b, want', [(2, 3, 6), (0, 5, 0)])\n"
        "def test_mul_table(a, b, want):\n    assert mul(a, b) == want",
    )
    attack.commit({"tests/test_calc.py": refactored}, "table-driven mul")
    landed(attack.push())
    baseline = attack.baseline()
    assert "tests/test_calc.py::test_mul_table[2-3-6]" in baseline
    assert "tests/test_calc.py::test_mul" not in baseline  # gone from the tip, gone from the baseline


def test_a_new_test_beside_the_failing_one_lands(attack: Attack) -> None:
    attack.commit({"tests/test_calc.py": TEST_CALC + "\n\ndef test_add_three():\n    assert add(1, 2) == 3\n"})
    landed(attack.push())
    assert "tests/test_calc.py::test_add_three" in attack.baseline()


def test_a_new_failing_test_lands_but_never_joins_the_baseline(attack: Attack) -> None:
    attack.commit({"tests/test_new.py": "from calc import sub\n\n\ndef test_sub_zero():\n    assert sub(3, 3) == 0\n"})
    landed(attack.push())
    assert "tests/test_new.py::test_sub_zero" not in attack.baseline()


def test_a_passing_test_changed_so_that_it_fails_is_refused(attack: Attack) -> None:
    # Failing from now on, it would guard nothing: the next push could break mul freely.
    attack.commit({"tests/test_calc.py": TEST_CALC.replace("mul(2, 3) == 6", "mul(2, 3) == 7")}, "oops")
    refused(attack.push(), "ERROR tests/test_calc.py::test_mul: changed test passes in its old form but fails")


def test_a_test_role_may_change_a_failing_test(attack: Attack) -> None:
    attack.commit({"tests/test_calc.py": TEST_CALC.replace("sub(5, 3) == 2", "sub(5, 3) == 3")}, "spec change")
    refused(attack.push("lead"), OLD_FORM_FAILS)  # protected_roles are not test_roles
    landed(attack.push("test-lead"))
    assert FAILING in attack.baseline()  # in its new form, as the tip now has it
