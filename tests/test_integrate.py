"""The conflict classes, each with a real conflicting history: while the session works,
"another agent" (a second clone) pushes a conflicting change to upstream main."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

from harness.loop.config import LoopMode
from harness.loop.events import read_events
from harness.tasks.ops import add_task
from harness.tasks.specs import TaskSpec
from tests.conftest import WorkRepo, assert_one_line_error, commit_file, git, run_harness, wait_until
from tests.loophelpers import FAST, locks_upstream, parked_refs, run, script, short
from tests.prochelpers import live_processes

BUILTIN = f"{sys.executable} -m harness.agents.builtin_agent"


def _agent(tmp: Path, other: Path, upstream_edit: str, own_edit: str, resolve: str = BUILTIN) -> str:
    """A session that first lets 'another agent' push, then makes its own commit."""
    return script(
        tmp,
        "agent.sh",
        f"""set -e
if [ "$HARNESS_SESSION_KIND" = resolve ]; then {resolve}; exit $?; fi
cd {other} && git pull -q --rebase && {upstream_edit} && git add -A && git commit -qm 'other agent' && git push -q
cd "$OLDPWD" && {own_edit} && git add -A && git commit -qm "$HARNESS_TASK: own work"
""",
    )


def _setup(work: WorkRepo, path: str, text: str) -> tuple[Path, Path]:
    seed = work.clone("seed")
    commit_file(seed, path, text, f"add {path}")
    git(seed, "push", "-q", "origin", "HEAD:main")
    ws = work.workspace("a1")
    add_task(ws, TaskSpec(id="t1", title="the task"))
    return ws.root, work.clone("other")


def test_additive_conflict_is_resolved_automatically(work: WorkRepo, tmp_path: Path) -> None:
    clone, other = _setup(work, "NOTES.md", "# notes\n")
    agent = _agent(tmp_path, other, "echo upstream-line >> NOTES.md", "echo agent-line >> NOTES.md", resolve="exit 1")
    summary = run(work.workspace("a1"), "command", agent, max_iterations=1)
    assert summary.outcomes == {"done": 1}
    assert work.upstream_file("NOTES.md") == "# notes\nupstream-line\nagent-line\n"
    (event,) = read_events(clone / "agent_logs" / "events.jsonl").events
    assert event.conflicts_resolved == ["additive: NOTES.md"]


def test_dependency_lock_takes_upstream_and_regenerates(work: WorkRepo, tmp_path: Path) -> None:
    clone, other = _setup(work, "uv.lock", "pins v1\n")
    agent = _agent(
        tmp_path, other, "echo 'pins v2 (upstream)' > uv.lock", "echo 'pins v2 (agent)' > uv.lock && echo x > app.py"
    )
    settings = short(FAST, regenerate={"uv.lock": "echo 'regenerated' >> uv.lock"})
    summary = run(work.workspace("a1"), "command", agent, max_iterations=1, settings=settings)
    assert summary.outcomes == {"done": 1}
    assert work.upstream_file("uv.lock") == "pins v2 (upstream)\nregenerated\n"
    assert work.upstream_file("app.py") == "x\n"  # the rest of the agent's commit landed
    (event,) = read_events(clone / "agent_logs" / "events.jsonl").events
    assert event.conflicts_resolved == ["dependency: uv.lock"]


def test_same_lines_go_to_one_resolution_session(work: WorkRepo, tmp_path: Path) -> None:
    clone, other = _setup(work, "config.py", "x = 1\n")
    agent = _agent(tmp_path, other, "echo 'x = 2' > config.py", "echo 'x = 3' > config.py")
    summary = run(work.workspace("a1"), "command", agent, max_iterations=1)
    assert summary.outcomes == {"done": 1}
    assert work.upstream_file("config.py") == "x = 2\nx = 3\n"  # the (scripted) resolution kept both
    (event,) = read_events(clone / "agent_logs" / "events.jsonl").events
    assert event.conflicts_resolved == ["same-lines (agent): config.py"]
    assert locks_upstream(work) == []


def test_unresolved_same_lines_are_parked_with_an_error_line(work: WorkRepo, tmp_path: Path) -> None:
    _clone, other = _setup(work, "config.py", "x = 1\n")
    agent = _agent(tmp_path, other, "echo 'x = 2' > config.py", "echo 'x = 3' > config.py", resolve="exit 1")
    lines: list[str] = []
    summary = run(work.workspace("a1"), "command", agent, lines, max_iterations=1)
    assert summary.outcomes == {"parked": 1}
    assert work.upstream_file("config.py") == "x = 2\n"  # upstream untouched
    (ref,) = parked_refs(work)
    assert work.upstream_git("show", f"{ref}:config.py") == "x = 3\n"  # nothing lost
    assert any(line.startswith("ERROR t1:") and ref in line for line in lines)
    assert locks_upstream(work) == []


def test_lock_file_conflict_means_lost_and_the_work_is_parked(work: WorkRepo, tmp_path: Path) -> None:
    _clone, other = _setup(work, "README.md", "readme\n")
    harness = f"{sys.executable} -m harness"
    add_task(work.workspace("a1"), TaskSpec(id="t2", title="someone else's", role="docs"))
    agent = _agent(
        tmp_path,
        other,
        f"{harness} claim t2 --agent other >/dev/null",
        "mkdir -p current_tasks && echo 'mine' > current_tasks/t2.lock && echo y > y.txt",
    )
    lines: list[str] = []
    summary = run(
        work.workspace("a1"), "command", agent, lines, max_iterations=1, settings=short(FAST, mode=LoopMode.QUEUE)
    )
    assert summary.outcomes == {"lost": 1}
    assert locks_upstream(work) == ["current_tasks/t2.lock"]  # the other agent's lock stands, ours is gone
    assert "agent: other" in (work.upstream_file("current_tasks/t2.lock") or "")
    (ref,) = parked_refs(work)
    assert work.upstream_git("show", f"{ref}:y.txt") == "y\n"
    assert any("lock file conflict" in line for line in lines)


def test_a_hung_regenerate_command_is_killed_with_its_group_and_the_loop_goes_on(
    work: WorkRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Invariant 7: a regenerate command that hangs (and whose child hangs too, both deaf to
    SIGTERM) is killed with its whole process group at loop.regenerate_timeout_seconds; the
    iteration ends with one ERROR line and the work parked, and the loop carries on."""
    pids = tmp_path / "regenerate.pids"
    marker = f"sleep {900000 + os.getpid() % 90000}"  # names this test's sleepers in /proc
    hang = f"trap '' TERM; echo $$ >> {pids}; {marker} & echo $! >> {pids}; {marker}"
    seed = work.clone("seed")
    config = yaml.safe_load((seed / "harness.yaml").read_text())
    config["loop"] = {"regenerate": {"uv.lock": hang}, "regenerate_timeout_seconds": 3, "kill_grace_seconds": 0.5}
    commit_file(seed, "harness.yaml", yaml.safe_dump(config), "configure a regenerate command")
    commit_file(seed, "uv.lock", "pins v1\n", "add uv.lock")
    with monkeypatch.context() as lead:
        lead.setenv("HARNESS_ROLE", "lead")  # harness.yaml is a protected path
        git(seed, "push", "-q", "origin", "HEAD:main")
    clone = work.workspace("a1").root
    add_task(work.workspace("a1"), TaskSpec(id="t1", title="the task"))
    other, once = work.clone("other"), tmp_path / "other-pushed"
    # The first session lets "another agent" change uv.lock first (a dependency conflict);
    # the second finds upstream's uv.lock already in place and lands cleanly.
    agent = script(
        tmp_path,
        "agent.sh",
        f"""set -e
if [ ! -e {once} ]; then
  touch {once}
  cd {other} && git pull -q --rebase && echo 'pins v2 (upstream)' > uv.lock && git commit -qam upstream && git push -q
  cd "$OLDPWD"
fi
echo 'pins v2 (agent)' > uv.lock && echo x > app.py && git add -A && git commit -qm "$HARNESS_TASK: own work"
""",
    )
    proc = run_harness(
        "loop", "--role", "core-dev", "--agent", "a1", "--agent-cmd", agent, "--max-iterations", "2", cwd=clone
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    (error,) = [line for line in proc.stderr.splitlines() if "regenerating uv.lock" in line]
    assert error.startswith("ERROR t1: `trap")
    assert "(regenerating uv.lock) timed out after 3 s and was killed; your commits are kept on " in error
    assert "refs/harness/parked/a1/t1-" in error
    assert [e.outcome for e in read_events(clone / "agent_logs" / "events.jsonl").events] == ["parked", "done"]
    (ref,) = parked_refs(work)
    assert work.upstream_git("show", f"{ref}:app.py") == "x\n"  # nothing lost
    assert work.upstream_file("app.py") == "x\n"  # and the second iteration landed it
    leader = int(pids.read_text().split()[0])  # the shell's pid is its process group's id
    # The shell, its child, anything in its group: SIGKILLed, so gone as soon as they are scheduled.
    wait_until(lambda: not live_processes(pgid=leader, marker=marker), "the regenerate command's processes to die", 30)


def test_regenerate_timeout_must_be_a_positive_number(work: WorkRepo) -> None:
    (work.first_clone / "harness.yaml").write_text("version: 1\nloop:\n  regenerate_timeout_seconds: 0\n")
    proc = run_harness("loop", "--role", "core-dev", "--once", cwd=work.first_clone)
    assert_one_line_error(proc, 1, "harness.yaml", "loop.regenerate_timeout_seconds", "> 0")
