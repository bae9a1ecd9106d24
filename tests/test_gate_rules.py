"""Path rules and acceptance, on the attack project: main only moves forward, current_tasks/
holds only locks, one parser decides (the hook reads no YAML), a task is done only when its
acceptance tests pass, and `harness status` says what a role is worth."""

from __future__ import annotations

import json

import pytest
import yaml

from harness.loop.prompt import PromptInput, render
from tests.attack_project import CALC, FAILING, FIXED_CALC, Attack, landed, make_attack, refused
from tests.conftest import WorkRepo, git, run_harness

BROKEN_ADD = CALC.replace("return a + b", "return a + b + 1")
AS_AGENT = {"HARNESS_ROLE": "core-dev", "HARNESS_AGENT": "core-dev-01"}


@pytest.fixture
def attack(work: WorkRepo) -> Attack:
    return make_attack(work)


# -- main only moves forward ---------------------------------------------------------------


def test_init_and_hooks_install_deny_non_fast_forwards(attack: Attack) -> None:
    assert attack.work.upstream_git("config", "receive.denyNonFastForwards").strip() == "true"
    attack.work.upstream_git("config", "--unset", "receive.denyNonFastForwards")
    assert run_harness("hooks", "install", cwd=attack.clone).returncode == 0
    assert attack.work.upstream_git("config", "receive.denyNonFastForwards").strip() == "true"


def test_a_forced_push_rewinding_main_is_refused_by_the_hook_itself(attack: Attack) -> None:
    claim = run_harness("claim", "t1", cwd=attack.clone, env=AS_AGENT)
    assert claim.returncode == 0, claim.stderr
    # Without git's own guard, the hook still refuses: a rewind that only drops a lock file
    # looks lock-only by its paths.
    attack.work.upstream_git("config", "--unset", "receive.denyNonFastForwards")
    git(attack.clone, "fetch", "-q", "origin")
    git(attack.clone, "reset", "-q", "--hard", "origin/main~1")
    refused(attack.push("lead", "--force"), "main only moves forward", "fetch, merge and push again")
    attack.commit({"calc.py": FIXED_CALC}, "fix, on an old base")
    refused(attack.push("lead", "--force"), "main only moves forward")


# -- current_tasks/ holds only locks ---------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "what"),
    [("current_tasks/helper.py", "not a lock file"), ("current_tasks/sub/x.lock", "not a lock file")],
)
def test_anything_but_a_lock_file_under_current_tasks_is_refused(attack: Attack, path: str, what: str) -> None:
    attack.commit({path: "import calc\n"}, "claim: sneaky")
    push = attack.push()
    refused(push, f"ERROR {path}: {what}; current_tasks/ holds only <task>.lock files and README.md")
    assert len(push.errors()) == 1


def test_a_symlink_under_current_tasks_is_refused_even_with_work(attack: Attack) -> None:
    (attack.clone / "current_tasks" / "t9.lock").symlink_to("../calc.py")
    git(attack.clone, "add", "current_tasks/t9.lock")
    attack.commit({"calc.py": FIXED_CALC}, "fix with a linked lock")
    refused(attack.push(), "ERROR current_tasks/t9.lock: a symlink; current_tasks/ holds only")


# -- one parser decides ----------------------------------------------------------------------

FLOW_STYLE = """\
---
"version": 1
'branch': main
tests: {runner: pytest, "total_timeout_seconds": 120}
gate: {protected: [harness.yaml], protected_roles: [lead], test_roles: [test-lead], reruns: 1}
"""


def test_a_flow_style_harness_yaml_from_the_lead_still_gates_every_push(attack: Attack) -> None:
    hook = (attack.work.upstream / "hooks" / "pre-receive").read_text()
    assert "harness.yaml" not in hook and "grep" not in hook  # the shell never reads the config
    attack.commit({"harness.yaml": FLOW_STYLE}, "reformat the config")
    refused(attack.push(), "ERROR harness.yaml: protected path")
    landed(attack.push("lead"))
    attack.commit({"calc.py": BROKEN_ADD}, "break add")
    refused(attack.push(), "ERROR tests/test_calc.py::test_add: regression")


# -- acceptance ------------------------------------------------------------------------------


def test_a_task_is_done_only_when_its_acceptance_tests_pass(attack: Attack) -> None:
    add = run_harness(
        "tasks", "add", "fix-sub", "--title", "sub is off by one", "--accept", FAILING, cwd=attack.clone, env=AS_AGENT
    )
    assert add.returncode == 0, add.stderr
    assert yaml.safe_load(attack.work.upstream_file("tasks/fix-sub.yaml") or "")["accept"] == [FAILING]
    listing = run_harness("tasks", "list", cwd=attack.clone)
    assert f"[accept: {FAILING}]" in listing.stdout
    assert run_harness("claim", "fix-sub", cwd=attack.clone, env=AS_AGENT).returncode == 0
    attack.commit({"NOTES.md": "looked at sub\n"}, "notes")
    early = run_harness("release", "fix-sub", "--done", cwd=attack.clone, env=AS_AGENT)
    assert early.returncode == 6, early.stderr
    assert f"ERROR {FAILING}: acceptance test of task fix-sub failed" in early.stderr
    assert yaml.safe_load(attack.work.upstream_file("tasks/fix-sub.yaml") or "")["status"] == "open"
    assert attack.work.upstream_file("current_tasks/fix-sub.lock") is not None  # still ours to finish
    attack.commit({"calc.py": FIXED_CALC}, "fix sub")
    done = run_harness("release", "fix-sub", "--done", cwd=attack.clone, env=AS_AGENT)
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(attack.work.upstream_file("tasks/fix-sub.yaml") or "")["status"] == "done"


def test_a_spec_only_push_runs_no_tests_and_inherits_the_baseline(attack: Attack) -> None:
    attack.commit({"NOTES.md": "notes\n"}, "notes")
    landed(attack.push())
    measured = attack.baseline()
    add = run_harness("tasks", "add", "t1", "--title", "a task", cwd=attack.clone, env=AS_AGENT)
    assert add.returncode == 0, add.stderr
    tip = attack.tip()
    assert attack.baseline(tip) == measured
    assert not list((attack.work.upstream / "harness" / "logs").glob(f"gate-{tip[:12]}*"))  # no run


def test_dropping_a_tasks_acceptance_tests_needs_a_test_role(attack: Attack) -> None:
    spec = f"title: fix sub\naccept: [{FAILING}]\nstatus: open\n"
    attack.commit({"tasks/fix-sub.yaml": spec}, "task")
    landed(attack.push())
    attack.commit({"tasks/fix-sub.yaml": "title: fix sub\nstatus: open\n"}, "simplify")
    refused(attack.push(), "ERROR tasks/fix-sub.yaml: changes or drops the task's accept: tests; only roles test-lead")
    # Marking it done by hand, beside an unrelated change, is judged like a release.
    attack.reset()
    attack.commit({"tasks/fix-sub.yaml": spec.replace("open", "done"), "NOTES.md": "done?\n"}, "done")
    refused(attack.push(), f"ERROR {FAILING}: acceptance test of task fix-sub failed")


def test_an_acceptance_test_the_push_itself_adds_does_not_count(attack: Attack) -> None:
    new_test = "tests/test_sub.py::test_sub_small"
    attack.commit({"tasks/sub2.yaml": f"title: sub\naccept: [{new_test}]\n"}, "task")
    landed(attack.push())
    attack.commit(
        {
            "tests/test_sub.py": "def test_sub_small():\n    assert True\n",
            "tasks/sub2.yaml": f"title: sub\naccept: [{new_test}]\nstatus: done\n",
        }
    )
    push = attack.push()
    refused(push, f"ERROR {new_test}: acceptance test of task sub2 is new in this push")


def test_the_prompt_names_the_acceptance_tests(attack: Attack) -> None:
    from harness.loop.config import LoopMode
    from harness.tasks.specs import TaskSpec

    ws = attack.work.workspace("agent", "core-dev-01")
    spec = TaskSpec(id="fix-sub", title="sub is off by one", accept=(FAILING,))
    text = render(ws, PromptInput(role="core-dev", iteration=1, mode=LoopMode.QUEUE, task=spec, task_id=spec.id))
    assert "done only when these tests pass" in text and f"- `{FAILING}`" in text


# -- roles -----------------------------------------------------------------------------------


def test_status_says_a_role_is_the_pushers_word(attack: Attack) -> None:
    text = run_harness("status", cwd=attack.clone)
    assert text.returncode == 0, text.stderr
    trust = [line for line in text.stdout.splitlines() if line.startswith("roles:")]
    assert trust == [
        "roles: unverified: HARNESS_ROLE is the pusher's word; a local upstream cannot prove who pushes (docs/gate.md)"
    ]
    report = json.loads(run_harness("status", "--json", cwd=attack.clone).stdout)
    assert report["roles"] == trust[0]
