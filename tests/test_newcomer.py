"""What a person meets first (issue 17): `init` on a plain directory, `harness test` without
tests or without HARNESS_AGENT, claiming a typo, releasing what nobody or someone else holds,
failure reasons, `tasks list`, and the heartbeat of a hold that waits on the gate."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from harness.testing.model import one_line
from tests.conftest import WorkRepo, assert_one_line_error, commit_file, git, run_harness, wait_until
from tests.loophelpers import locks_upstream, write_task


def test_init_on_a_plain_directory_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "main.py").write_text("print('hi')\n")
    for _ in range(2):  # a retry meets the same state, and the same error
        proc = run_harness("init", str(project), cwd=tmp_path)
        assert_one_line_error(proc, 1, "has files but is not a git repository", "git init")
        assert not (tmp_path / "proj-upstream.git").exists()
        assert sorted(p.name for p in project.iterdir()) == ["main.py"]


def test_init_that_fails_midway_removes_the_upstream_it_made(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    git(project, "remote", "add", "origin", "https://example.invalid/x.git")
    proc = run_harness("init", str(project), cwd=tmp_path)
    assert_one_line_error(proc, 1, "already has an 'origin' remote", "--from")
    assert not (tmp_path / "proj-upstream.git").exists()


def test_the_generated_config_points_to_docs_that_exist(work: WorkRepo) -> None:
    first = (work.first_clone / "harness.yaml").read_text().splitlines()[0]
    path = Path(first.rsplit(" ", 1)[-1])
    assert first.startswith("# harness configuration; every key is described in ") and path.name == "config.md"
    assert path.is_file() and "tests:" in path.read_text()


def test_no_tests_configured_is_an_error_with_the_fix(work: WorkRepo) -> None:
    proc = run_harness("test", cwd=work.first_clone)
    assert_one_line_error(proc, 1, "harness.yaml: no tests configured", "add a `tests:` section", "docs/config.md")


SUITE = 'version: 1\ntests:\n  runner: files\n  glob: "t/*.sh"\n  run: "sh {test}"\n  fast_fraction: 0.05\n'


def test_a_persons_fast_sample_is_the_same_every_run(work: WorkRepo) -> None:
    clone = work.first_clone
    for i in range(200):
        (clone / "t").mkdir(exist_ok=True)
        (clone / f"t/{i:03d}.sh").write_text("exit 0\n")
    (clone / "harness.yaml").write_text(SUITE)
    runs = [json.loads(run_harness("test", "--fast", "--json", cwd=clone).stdout) for _ in range(2)]
    assert runs[0]["selected"] == runs[1]["selected"]  # two processes, two pids: one seed
    assert runs[0]["seed"] == "test@example.invalid"  # git's user.email (the hermetic fixture's)
    git(clone, "config", "user.email", "someone-else@example.invalid")
    other = json.loads(run_harness("test", "--fast", "--json", cwd=clone).stdout)
    assert other["seed"] == "someone-else@example.invalid" and other["selected"] != runs[0]["selected"]
    agent = json.loads(run_harness("test", "--fast", "--json", cwd=clone, env={"HARNESS_AGENT": "core-dev-02"}).stdout)
    assert agent["seed"] == "core-dev-02"


def test_a_pytest_failure_reason_is_not_cut_mid_expression(work: WorkRepo) -> None:
    clone = work.first_clone
    (clone / "harness.yaml").write_text("version: 1\ntests:\n  runner: pytest\n  args: [tests]\n")
    commit_file(
        clone,
        "tests/test_long.py",
        "def test_long():\n"
        "    expected = {'alpha': [1, 2, 3], 'beta': 'a fairly long string value here', 'gamma': (4, 5, 6)}\n"
        "    actual = {'alpha': [1, 2, 4], 'beta': 'a fairly long string value here', 'gamma': (4, 5, 6)}\n"
        "    assert actual == expected\n",
        "a failing test",
    )
    proc = run_harness("test", cwd=clone)
    assert proc.returncode == 6, proc.stdout + proc.stderr
    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("ERROR ")]
    assert line.startswith("ERROR tests/test_long.py::test_long: AssertionError: assert {")
    assert line.endswith("(4, 5, 6)}") and " == " in line, line  # both sides, to the end


def test_a_long_reason_keeps_its_head_and_its_tail() -> None:
    text = "AssertionError: assert " + "x" * 600 + " == the end"
    short = one_line(text)
    assert len(short) == 300 and short.startswith("AssertionError: assert x") and short.endswith(" == the end")


def test_claiming_a_typo_is_refused_where_specs_exist(work: WorkRepo) -> None:
    clone = work.first_clone
    assert run_harness("tasks", "add", "parser-errors", "--title", "Parser errors", cwd=clone).returncode == 0
    typo = run_harness("claim", "parser-erors", "--agent", "a1", cwd=clone)
    assert_one_line_error(typo, 4, "no spec tasks/parser-erors.yaml", "did you mean parser-errors?", "--no-spec")
    assert locks_upstream(work) == []
    forced = run_harness("claim", "parser-erors", "--no-spec", "--agent", "a1", cwd=clone)
    assert forced.returncode == 0, forced.stderr


def test_releasing_what_nobody_holds_is_4_not_fenced(work: WorkRepo) -> None:
    proc = run_harness("release", "nothing-here", "--agent", "a1", cwd=work.first_clone)
    assert_one_line_error(proc, 4, "not locked at the upstream tip", "not held")


def test_bob_cannot_release_alices_lock_from_the_same_clone(work: WorkRepo) -> None:
    clone = work.clone("shared")
    assert run_harness("claim", "t1", "--agent", "alice", cwd=clone).returncode == 0
    proc = run_harness("release", "t1", "--agent", "bob", cwd=clone)
    assert_one_line_error(proc, 3, "t1 is held by alice, not by bob", "--agent alice")
    assert locks_upstream(work) == ["current_tasks/t1.lock"]
    assert run_harness("release", "t1", "--agent", "alice", cwd=clone).returncode == 0


def test_tasks_list_shows_each_tasks_role(work: WorkRepo) -> None:
    clone = work.first_clone
    run_harness("tasks", "add", "docs-intro", "--title", "Intro", "--role", "docs", cwd=clone)
    run_harness("tasks", "add", "fix-bug", "--title", "Fix", cwd=clone)
    lines = run_harness("tasks", "list", cwd=clone).stdout.splitlines()
    assert lines[0].split()[:5] == ["STATE", "TASK", "ROLE", "PRIO", "TITLE"]
    rows = {line.split()[1]: line.split() for line in lines[1:]}
    assert rows["docs-intro"][2] == "docs" and rows["fix-bug"][2] == "any"


GATED = """\
version: 1
locks:
  lease_seconds: 600
  grace_seconds: 60
  heartbeat_seconds: 1
tests:
  runner: files
  glob: "t/*.sh"
  run: "sh {test}"
  timeout_seconds: 300
"""


def test_a_hold_waiting_on_the_gate_keeps_its_heartbeat(work: WorkRepo, tmp_path: Path) -> None:
    # The gate's tests run sandboxed, as a uid of their own: the flag they wait for must be in a
    # directory any uid may look into (pytest's tmp dirs are 0700).
    shared = Path(tempfile.mkdtemp(prefix="harness-gate-flag-", dir="/tmp"))
    shared.chmod(0o755)
    flag = shared / "gate-may-finish"
    clone = work.first_clone
    commit_file(clone, "harness.yaml", GATED, "a gated suite")
    commit_file(clone, "t/wait.sh", f"i=0; while [ ! -e {flag} ] && [ $i -lt 2400 ]; do sleep 0.1; i=$((i+1)); done\n",
                "a test that waits")  # fmt: skip
    pushed = subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=clone, capture_output=True, text=True,
                            env={**os.environ, "HARNESS_ROLE": "lead"}, check=False)  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    write_task(work.workspace("seed"), "t1", "x.txt", "x")
    agent_clone = work.clone("agent")
    argv = [sys.executable, "-m", "harness", "loop", "--role", "core-dev", "--backend", "builtin", "--once",
            "--agent", "core-dev-01"]  # fmt: skip
    viewer = work.clone("viewer")
    loop = subprocess.Popen(argv, cwd=agent_clone, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:

        def beating() -> bool:
            rows = json.loads(run_harness("status", "--json", cwd=viewer).stdout)["locks"]
            return any(r["task"] == "t1" and r["heartbeat_age_seconds"] is not None for r in rows)

        wait_until(beating, "a heartbeat for t1 while the gate runs", timeout=180)
        assert loop.poll() is None  # still waiting on the gate: the beat came from the integrate step
    finally:
        flag.touch()
        out, _ = loop.communicate(timeout=300)
        shutil.rmtree(shared, ignore_errors=True)
    assert loop.returncode == 0, out
    assert yaml.safe_load(work.upstream_file("tasks/t1.yaml") or "")["status"] == "done"


def test_the_readmes_commands_after_make_demo_find_harness() -> None:
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    block = readme.split("## On your project", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    first = block.strip().splitlines()[0].split("#", 1)[0].strip()
    assert first == ". .venv/bin/activate"
    assert all(not line.startswith(".venv/bin/harness") for line in block.splitlines())  # one way, stated once
    if (root / ".venv" / "bin" / "activate").exists():  # a checkout `make` set up (this suite runs from it)
        found = subprocess.run(["bash", "-c", f"{first} && command -v harness"], cwd=root, capture_output=True,
                               text=True, check=False)  # fmt: skip
        assert found.stdout.strip() == str(root / ".venv" / "bin" / "harness"), found.stderr
