"""The command surface as scripts see it: exit codes, one-line errors, --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.locks.lockfile import parse_lock
from tests.conftest import WorkRepo, assert_one_line_error, commit_file, git, run_harness


def test_init_creates_a_ready_work_repo_and_says_what_next(tmp_path: Path) -> None:
    proc = run_harness("init", str(tmp_path / "proj"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "next: cd" in proc.stdout and "harness tasks add" in proc.stdout
    upstream = tmp_path / "proj-upstream.git"
    files = git(upstream, "ls-tree", "-r", "--name-only", "main").split()
    assert {"harness.yaml", "current_tasks/README.md", "prompts/core-dev.md", ".gitignore"} <= set(files)
    claimed = run_harness("claim", "first", "--agent", "a1", cwd=tmp_path / "proj")
    assert claimed.returncode == 0, claimed.stderr


def test_init_converts_an_existing_repo_keeping_its_history(tmp_path: Path) -> None:
    existing = tmp_path / "old"
    existing.mkdir()
    git(existing, "init", "--quiet")
    commit_file(existing, "src/main.c", "int main(){return 0;}\n", "first")
    proc = run_harness("init", str(existing), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    log = git(tmp_path / "old-upstream.git", "log", "--format=%s", "main").split("\n")
    assert log[:2] == ["harness init", "first"]


def test_init_from_refuses_a_non_repo(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    proc = run_harness("init", str(tmp_path / "new"), "--from", str(tmp_path / "plain"), cwd=tmp_path)
    assert_one_line_error(proc, 1, "not a git repository")


@pytest.mark.parametrize("task", ["../x", "has space", "x" * 300, "Upper", ".hidden"])
def test_bad_task_ids_are_usage_errors(work: WorkRepo, task: str) -> None:
    proc = run_harness("claim", task, "--agent", "a1", cwd=work.first_clone)
    assert_one_line_error(proc, 2, "task id")
    assert work.upstream_git("ls-tree", "--name-only", "main", "current_tasks/").split() == ["current_tasks/README.md"]


def test_malformed_config_names_file_and_field(work: WorkRepo) -> None:
    (work.first_clone / "harness.yaml").write_text("version: 1\nlocks:\n  lease_seconds: soon\n")
    proc = run_harness("claim", "t1", "--agent", "a1", cwd=work.first_clone)
    assert_one_line_error(proc, 1, "harness.yaml", "locks.lease_seconds")
    (work.first_clone / "harness.yaml").write_text("version: 1\nlocks: [unclosed\n")
    proc = run_harness("status", cwd=work.first_clone)
    assert_one_line_error(proc, 1, "harness.yaml", "not valid YAML")
    (work.first_clone / "harness.yaml").write_text("version: 1\nlokcs: {}\n")
    proc = run_harness("status", cwd=work.first_clone)
    assert_one_line_error(proc, 1, "lokcs", "unknown key")


def test_malformed_task_spec_names_file_and_fix(work: WorkRepo) -> None:
    commit_file(work.first_clone, "tasks/broken.yaml", "title: [unclosed\n", "bad spec")
    commit_file(work.first_clone, "tasks/nopri.yaml", "title: ok\npriority: high\n", "bad priority")
    git(work.first_clone, "push", "--quiet", "origin", "HEAD:main")
    proc = run_harness("claim", "broken", "--agent", "a1", cwd=work.first_clone)
    assert_one_line_error(proc, 1, "tasks/broken.yaml", "not valid YAML")
    run_harness("tasks", "add", "fine", "--title", "A good one", cwd=work.first_clone)
    proc = run_harness("tasks", "list", cwd=work.first_clone)  # the others are listed, each bad file named
    assert proc.returncode == 0 and "fine" in proc.stdout and "Traceback" not in proc.stderr
    errors = proc.stderr.splitlines()
    assert [line.split(":")[0] for line in errors] == ["ERROR tasks/broken.yaml", "ERROR tasks/nopri.yaml"]
    proc = run_harness("claim", "nopri", "--agent", "a1", cwd=work.first_clone)
    assert_one_line_error(proc, 1, "tasks/nopri.yaml", "priority")


def test_malformed_lock_file_via_cli(work: WorkRepo) -> None:
    commit_file(work.first_clone, "current_tasks/t1.lock", "just text\n", "hand-made lock")
    git(work.first_clone, "push", "--quiet", "origin", "HEAD:main")
    proc = run_harness("claim", "t1", "--agent", "a1", cwd=work.first_clone)
    assert_one_line_error(proc, 1, "current_tasks/t1.lock", "not a valid lock file")


def test_exit_codes_held_not_claimable_fenced(work: WorkRepo) -> None:
    clone_a, clone_b = work.clone("a"), work.clone("b")
    run_harness("tasks", "add", "base", "--title", "Base", cwd=clone_a)
    run_harness("tasks", "add", "top", "--title", "Top", "--depends-on", "base", cwd=clone_a)
    assert run_harness("claim", "base", "--agent", "a", cwd=clone_a).returncode == 0
    assert_one_line_error(run_harness("claim", "base", "--agent", "b", cwd=clone_b), 3, "held by a")
    assert_one_line_error(run_harness("claim", "top", "--agent", "b", cwd=clone_b), 4, "base")
    assert_one_line_error(run_harness("release", "base", "--agent", "b", cwd=clone_b), 3, "held by a")
    assert run_harness("release", "base", "--done", "--agent", "a", cwd=clone_a).returncode == 0
    assert run_harness("claim", "top", "--agent", "b", cwd=clone_b).returncode == 0


def test_status_and_tasks_json(work: WorkRepo) -> None:
    clone = work.first_clone
    run_harness("tasks", "add", "t1", "--title", "One", "--priority", "2", cwd=clone)
    run_harness("tasks", "add", "t2", "--title", "Two", cwd=clone)
    run_harness("claim", "t2", "--agent", "a1", "--role", "docs", cwd=clone)
    status = json.loads(run_harness("status", "--json", cwd=clone).stdout)
    assert [(row["task"], row["agent"], row["role"], row["stale"]) for row in status["locks"]] == [
        ("t2", "a1", "docs", False)
    ]
    rows = json.loads(run_harness("tasks", "list", "--json", cwd=clone).stdout)
    assert {row["id"]: row["state"] for row in rows} == {"t1": "ready", "t2": "held"}
    assert json.loads(run_harness("tasks", "next", "--json", cwd=clone).stdout)["next"] == "t1"


def test_usage_errors_exit_2(work: WorkRepo) -> None:
    proc = run_harness("claim", cwd=work.first_clone)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    proc = run_harness("claim", "t1", "--agent", "bad agent", cwd=work.first_clone)
    assert_one_line_error(proc, 2, "agent id")


def test_outside_a_clone_is_a_clear_error(tmp_path: Path) -> None:
    proc = run_harness("status", "--repo", str(tmp_path), cwd=tmp_path)
    assert_one_line_error(proc, 1, "not inside a git clone", "harness init")


def test_click_usage_errors_are_one_line_too(work: WorkRepo) -> None:
    proc = run_harness("claim", "t1", "--bogus", cwd=work.first_clone)
    assert_one_line_error(proc, 2, "--bogus", "harness claim --help")


def test_init_installs_the_gate_on_the_upstream(tmp_path: Path) -> None:
    assert run_harness("init", str(tmp_path / "proj"), cwd=tmp_path).returncode == 0
    hook = tmp_path / "proj-upstream.git" / "hooks" / "pre-receive"
    assert hook.exists() and "harness pre-receive gate" in hook.read_text()


def test_a_bug_is_still_one_line_with_the_traceback_kept(tmp_path: Path) -> None:
    code = (
        "import harness.cli.main as c\n"
        "@c.cli.command()\n"
        "def boom() -> None:\n"
        "    raise RuntimeError('kaput')\n"
        "c.main(['boom'])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert_one_line_error(proc, 1, "internal error RuntimeError: kaput", "traceback: ")
    saved = Path(proc.stderr.rsplit("traceback: ", 1)[1].rstrip(")\n"))
    assert "RuntimeError: kaput" in saved.read_text()


# A claimer whose clock runs a year ahead: set before harness is imported, as a clock of its own.
_AHEAD = 365 * 86400
_CLAIM_WITH_CLOCK_AHEAD = (
    "import sys, time\n"
    f"real = time.time; time.time = lambda: real() + {_AHEAD}\n"
    "from harness.cli.main import main\n"
    "main(sys.argv[1:])\n"
)


def _claim_process(argv: list[str], cwd: Path) -> tuple[int, float, float]:
    """Run a claim in a process of its own; its pid and the wall clock around it."""
    before = time.time()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return proc.pid, before, time.time()


def test_the_lock_is_stamped_by_the_claiming_process(work: WorkRepo) -> None:
    """Agent id, host and time in the lock come from the `harness claim` process itself."""
    pid, before, after = _claim_process([sys.executable, "-m", "harness", "claim", "t1"], work.first_clone)
    lock = parse_lock("current_tasks/t1.lock", (work.upstream_file("current_tasks/t1.lock") or "").encode())
    assert lock.agent == f"{os.uname().nodename}-{pid}" and lock.host == os.uname().nodename
    assert int(before) <= lock.claimed_at <= after


def test_the_claimers_clock_is_the_one_stamped(work: WorkRepo) -> None:
    argv = [sys.executable, "-c", _CLAIM_WITH_CLOCK_AHEAD, "claim", "t1"]
    pid, before, after = _claim_process(argv, work.first_clone)
    lock = parse_lock("current_tasks/t1.lock", (work.upstream_file("current_tasks/t1.lock") or "").encode())
    assert lock.agent == f"{os.uname().nodename}-{pid}"
    assert int(before + _AHEAD) <= lock.claimed_at <= after + _AHEAD
