"""Pushes that change only task specs run no test, as lock-only pushes do; anything else
under tasks/ is refused with one line; a protected path's refusal says how a lead pushes.

Real hooks on a real bare upstream (the gated fixture of test_gate.py), a test that counts
its own runs in a marker file: `tasks add` must leave the count alone.
"""

from __future__ import annotations

from harness.gate.check import pre_push
from harness.gate.paths import ABSENT, PathChange, is_task_file
from tests.conftest import WorkRepo, commit_file, git, run_harness
from tests.test_gate import gated, push, upstream_main

__all__ = ["gated"]  # the fixture, imported for pytest


def _suite_runs(work: WorkRepo) -> int:
    """Suite runs the upstream's gate made: each keeps its log in <upstream>/harness/logs/."""
    logs = work.upstream / "harness" / "logs"
    return len(list(logs.glob("*.log"))) if logs.is_dir() else 0


def test_tasks_add_and_spec_edits_run_no_tests(gated: WorkRepo) -> None:
    clone = gated.clone("person")
    commit_file(clone, "t/e.sh", "exit 0\n", "a test")
    assert push(clone).returncode == 0  # measured the baseline, ran the suite
    runs = _suite_runs(gated)
    assert runs >= 1
    add = run_harness("tasks", "add", "fix-parser", "--title", "Parser reports line numbers", cwd=clone)
    assert add.returncode == 0, add.stderr
    git(clone, "pull", "-q", "origin", "main")
    commit_file(clone, "tasks/fix-parser.yaml", "title: Parser reports line numbers and columns\n", "edit spec")
    commit_file(clone, "tasks/README.md", "Specs, one per task.\n", "readme")
    edited = push(clone)
    assert edited.returncode == 0, edited.stderr
    assert _suite_runs(gated) == runs  # no suite ran for the spec pushes
    commit_file(clone, "t/f.sh", "exit 0\n", "another test")
    assert push(clone).returncode == 0
    assert _suite_runs(gated) == runs + 1  # the next code push: one run, its old tip's baseline inherited


def test_the_clone_side_gate_skips_a_spec_only_commit_too(gated: WorkRepo) -> None:
    ws = gated.workspace("agent", "core-dev-01")
    commit_file(ws.root, "tasks/t1.yaml", "title: one\n", "spec")
    result = pre_push(ws)
    assert result is not None and result.verdict is None and result.skipped == "spec-only push"


def test_any_other_file_under_tasks_is_refused_with_one_line(gated: WorkRepo) -> None:
    clone = gated.clone("agent")
    before = upstream_main(gated)
    for path in ("tasks/notes.txt", "tasks/sub/t1.yaml", "tasks/Bad Name.yaml"):
        git(clone, "reset", "-q", "--hard", "origin/main")
        commit_file(clone, path, "title: x\n", f"add {path}")
        refused = push(clone)
        assert refused.returncode != 0
        lines = [ln for ln in refused.stderr.splitlines() if "ERROR" in ln]
        assert len(lines) == 1, refused.stderr
        assert f"ERROR {path}: only task specs (tasks/<id>.yaml) and tasks/README.md may live in tasks/" in lines[0]
        assert upstream_main(gated) == before


def test_a_foreign_file_in_tasks_is_refused_even_where_no_tests_are_configured(work: WorkRepo) -> None:
    clone = work.first_clone
    commit_file(clone, "tasks/scratch.md", "thoughts\n", "scratch")
    refused = push(clone)
    assert refused.returncode != 0 and "ERROR tasks/scratch.md: only task specs" in refused.stderr


def test_which_paths_are_task_files() -> None:
    def change(path: str, mode: str = "100644") -> PathChange:
        return PathChange(path=path, old_mode=ABSENT, new_mode=mode, old_sha="0" * 40, new_sha="1" * 40)

    paths = ["tasks/a.yaml", "tasks/README.md", "tasks/x/a.yaml", "tasks/A.yaml", "tasks/a.yml", "tasksx/a.yaml"]
    assert [p for p in paths if is_task_file(change(p))] == ["tasks/a.yaml", "tasks/README.md"]
    assert not is_task_file(change("tasks/a.yaml", "120000"))  # a symlink is not a spec


def test_the_protected_path_refusal_says_how_a_lead_pushes(gated: WorkRepo) -> None:
    clone = gated.clone("agent")
    commit_file(clone, "harness.yaml", (clone / "harness.yaml").read_text() + "# note\n", "config")
    refused = push(clone, role="")
    assert (
        "ERROR harness.yaml: protected path; only lead may change it (this push: role none); "
        "a lead pushes with HARNESS_ROLE=lead git push"
    ) in refused.stderr
    assert push(clone, role="lead").returncode == 0


def test_a_lead_push_that_adds_the_first_tests_section_runs_no_default_suite(work: WorkRepo) -> None:
    clone = work.first_clone
    for name in ("a", "b"):
        commit_file(clone, f"t/{name}.sh", "exit 0\n", f"test {name}")
    commit_file(clone, "test_stray.py", "def test_not_chosen():\n    pass\n", "a pytest file nobody chose")
    config = (clone / "harness.yaml").read_text() + 'tests:\n  runner: files\n  glob: "t/*.sh"\n  run: "sh {test}"\n'
    commit_file(clone, "harness.yaml", config, "tests")
    lead = push(clone, role="lead")
    assert lead.returncode == 0, lead.stderr
    assert "gate: ok (no tests configured at the old tip, no tests run)" in lead.stderr
    commit_file(clone, "t/c.sh", "exit 0\n", "test c")
    nxt = push(clone)
    assert nxt.returncode == 0 and "gate: ok, 3 passing;" in nxt.stderr, nxt.stderr  # the 3 chosen tests, no more


def test_a_lead_push_that_changes_the_test_settings_says_whose_count_it_gives(gated: WorkRepo) -> None:
    clone = gated.first_clone
    text = (clone / "harness.yaml").read_text()
    commit_file(clone, "harness.yaml", text.replace("t/*.sh", "t/[ab].sh"), "narrow the suite")
    lead = push(clone, role="lead")
    assert lead.returncode == 0, lead.stderr
    assert "3 passing (under the old tip's verifier; the new one applies from the next push)" in lead.stderr
    commit_file(clone, "t/e.sh", "exit 0\n", "outside the new glob")
    nxt = push(clone)
    assert nxt.returncode == 0 and "gate: ok, 2 passing;" in nxt.stderr, nxt.stderr
