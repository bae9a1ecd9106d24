"""The loop against real git, real processes and real agents (the builtin scripted agent
and shell-script agents through the command backend)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from harness.loop.config import LoopMode
from harness.loop.events import read_events
from tests.conftest import WorkRepo, git, wait_until
from tests.loophelpers import (
    FAST,
    OTHER_UID,
    clone_another_user_can_enter,
    locks_upstream,
    parked_refs,
    run,
    script,
    short,
    write_task,
)


def test_builtin_agent_does_the_task_and_the_loop_records_it(work: WorkRepo) -> None:
    ws = work.workspace("a1")
    write_task(ws, "greet", "src/greet.txt", "hello")
    lines: list[str] = []
    summary = run(ws, lines=lines, exit_when_idle=True)
    assert summary.outcomes == {"done": 1} and summary.stopped_by == "no open task left"
    assert work.upstream_file("src/greet.txt") == "hello\n"
    assert yaml.safe_load(work.upstream_file("tasks/greet.yaml") or "")["status"] == "done"
    assert locks_upstream(work) == []
    (event,) = read_events(ws.root / "agent_logs" / "events.jsonl").events
    assert event.task == "greet" and event.outcome == "done" and event.commits_pushed == 1
    log = Path(event.log)
    assert log.parent == ws.root / "agent_logs" and log.name.startswith("agent_") and log.exists()
    assert "builtin agent: applied task greet" in log.read_text()
    assert any("scripted agent, not an AI" in line for line in lines)


@pytest.mark.parametrize(
    ("body", "outcome", "exit_text"),
    [
        ("echo work > f.txt; git add f.txt; git commit -qm wip; exit 3", "failed", "exited 3"),
        ("kill -9 $$", "killed", "SIGKILL"),
        ("sleep 300.3 & sleep 300.3", "timeout", "timed out"),
    ],
    ids=["exits-non-zero", "killed-by-signal", "hangs-past-timeout"],
)
def test_a_failing_session_hands_the_lock_back_and_the_loop_goes_on(
    work: WorkRepo, tmp_path: Path, body: str, outcome: str, exit_text: str
) -> None:
    ws = work.workspace("a1")
    write_task(ws, "t1", "x.txt", "x")
    write_task(ws, "t2", "y.txt", "y")
    agent = script(tmp_path, "agent.sh", body + "\n")
    start = time.monotonic()
    lines: list[str] = []
    summary = run(ws, "command", agent, lines, max_iterations=2, settings=short(FAST, session_timeout_seconds=1.5))
    assert summary.iterations == 2 and summary.outcomes == {outcome: 2}  # the loop went on after the first
    assert time.monotonic() - start < 25
    assert locks_upstream(work) == []  # both locks handed back
    events = read_events(ws.root / "agent_logs" / "events.jsonl").events
    assert all(exit_text in e.session_exit for e in events)
    assert any(line.startswith("ERROR t") for line in lines)
    if outcome == "failed":  # the commits of a failed session are parked, not lost
        refs = parked_refs(work)
        assert refs and all(work.upstream_git("show", f"{r}:f.txt").strip() == "work" for r in refs)
    if outcome == "timeout":  # the hung session's whole group is gone
        assert subprocess.run(["pgrep", "-f", "sleep 300.3"], capture_output=True).returncode == 1


def test_a_session_that_kills_every_process_it_can_see_cannot_stop_the_loop(work: WorkRepo, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: only a loop running as root can run its sessions as another user")
    with clone_another_user_can_enter(work, "killall") as clone:
        from harness.workspace import open_workspace

        ws = open_workspace(clone, "killer")
        write_task(ws, "t1", "x.txt", "x")
        killer = 'echo "killer runs as $(id -u)"; kill -9 $PPID; kill -9 -1; pkill -9 -f harness; pkill -9 python\n'
        agent = script(clone.parent, "killall.sh", killer)
        settings = short(FAST, session_user=str(OTHER_UID))
        summary = run(ws, "command", agent, max_iterations=2, settings=settings)
        # We are still here (the loop runs in this process), and the loop went on to a second session.
        assert summary.iterations == 2 and summary.outcomes == {"killed": 2}  # `pkill -f harness` hit itself
        assert locks_upstream(work) == []
        events = read_events(clone / "agent_logs" / "events.jsonl").events
        assert all(f"killer runs as {OTHER_UID}" in Path(e.log).read_text() for e in events)


def test_sigterm_mid_session_hands_the_lock_back_and_exits_cleanly(work: WorkRepo, tmp_path: Path) -> None:
    ws = work.workspace("a1")
    write_task(ws, "slow", "x.txt", "x")
    started = tmp_path / "session-started"
    agent = script(tmp_path, "slow.sh", f"touch '{started}'; sleep 120.7\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "loop", "--role", "core-dev", "--agent-cmd", agent, "--agent", "a1"],
        cwd=ws.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not locks_upstream(work) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert locks_upstream(work) == ["current_tasks/slow.lock"]
    wait_until(started.exists, "the agent session to start")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "loop stopped: SIGTERM" in out
    assert locks_upstream(work) == []
    assert subprocess.run(["pgrep", "-f", "sleep 120.7"], capture_output=True).returncode == 1


def test_stop_file_ends_the_loop_between_iterations(work: WorkRepo) -> None:
    ws = work.workspace("a1")
    for i in range(3):
        write_task(ws, f"t{i}", f"f{i}.txt", "x")
    stop = ws.root / "STOP"
    stop.touch()
    summary = run(ws, stop_file=stop)
    assert summary.iterations == 0 and summary.stopped_by.startswith("stop file")


def test_rate_limited_backend_hands_back_and_backs_off_exponentially(work: WorkRepo, tmp_path: Path) -> None:
    ws = work.workspace("a1")
    write_task(ws, "t1", "x.txt", "x")
    agent = script(tmp_path, "limited.sh", "echo 'API Error: 429 rate_limit_error: too many requests'; exit 1\n")
    lines: list[str] = []
    summary = run(ws, "command", agent, lines, max_iterations=3)
    assert summary.outcomes == {"rate-limited": 3}
    waits = [line for line in lines if line.startswith("rate limited by command: backing off")]
    assert [w.split()[-2] for w in waits] == ["0.05", "0.1", "0.2"]  # doubling, up to the max
    assert locks_upstream(work) == []
    assert "rate_limit_error" in read_events(ws.root / "agent_logs" / "events.jsonl").events[0].error


def test_budget_stops_the_loop_when_the_reported_cost_is_spent(work: WorkRepo, tmp_path: Path) -> None:
    ws = work.workspace("a1")
    for i in range(4):
        write_task(ws, f"t{i}", f"f{i}.txt", "x")
    result = {"type": "result", "is_error": False, "total_cost_usd": 0.6, "usage": {"input_tokens": 10}}
    agent = script(
        tmp_path,
        "paid.sh",
        f"echo done > \"out-$HARNESS_TASK.txt\"; git add -A; git commit -qm work\necho '{json.dumps(result)}'\n",
    )
    summary = run(ws, "command", agent, budget_usd=1.0)
    assert summary.iterations == 2 and summary.stopped_by.startswith("budget spent")
    assert summary.cost_usd == pytest.approx(1.2)
    events = read_events(ws.root / "agent_logs" / "events.jsonl").events
    assert [e.input_tokens for e in events] == [10, 10]


def test_nothing_to_claim_with_once_returns_instead_of_waiting(work: WorkRepo) -> None:
    from harness.locks.claim import claim

    other = work.workspace("other")
    write_task(other, "t1", "x.txt", "x")
    claim(other, "t1")
    summary = run(work.workspace("a1"), max_iterations=1)
    assert summary.iterations == 0 and summary.stopped_by == "nothing to claim"


def test_open_mode_the_agent_claims_and_the_loop_hands_back_what_it_left(work: WorkRepo, tmp_path: Path) -> None:
    ws = work.workspace("a1")
    write_task(ws, "t1", "x.txt", "x")
    summary = run(ws, max_iterations=1, settings=short(FAST, mode=LoopMode.OPEN))  # builtin claims and releases itself
    assert summary.outcomes == {"released-by-agent": 1}
    assert yaml.safe_load(work.upstream_file("tasks/t1.yaml") or "")["status"] == "done"
    write_task(ws, "t2", "y.txt", "y")
    harness = f"{sys.executable} -m harness"
    agent = script(tmp_path, "claims.sh", f"{harness} claim t2 --role core-dev\n")  # claims, never releases
    lines: list[str] = []
    summary = run(ws, "command", agent, lines, max_iterations=1, settings=short(FAST, mode=LoopMode.OPEN))
    assert summary.outcomes == {"no-change": 1}
    assert locks_upstream(work) == []
    assert any("left its lock held; handed back" in line for line in lines)


def test_commits_left_in_the_clone_are_parked_at_the_next_sync(work: WorkRepo) -> None:
    ws = work.workspace("a1")
    (ws.root / "stray.txt").write_text("uncommitted work\n")
    write_task(ws, "t1", "x.txt", "x")
    lines: list[str] = []
    run(ws, lines=lines, exit_when_idle=True)
    (ref,) = parked_refs(work)
    assert work.upstream_git("show", f"{ref}:stray.txt") == "uncommitted work\n"
    assert any(line.startswith("ERROR sync:") and ref in line for line in lines)


def test_four_agents_drain_a_sixteen_task_queue_each_task_done_once(work: WorkRepo) -> None:
    ws = work.workspace("seed")
    for i in range(16):
        write_task(ws, f"t{i:02d}", f"src/f{i:02d}.txt", f"task {i}")
    procs = []
    for n in range(4):
        clone = work.clone(f"agent{n}")
        cmd = [sys.executable, "-m", "harness", "loop", "--role", "core-dev", "--backend", "builtin"]
        cmd += ["--agent", f"core-dev-{n}", "--exit-when-idle", "--idle-backoff", "0.1"]
        procs.append(subprocess.Popen(cmd, cwd=clone, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=240)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert locks_upstream(work) == []
    for i in range(16):
        spec = yaml.safe_load(work.upstream_file(f"tasks/t{i:02d}.yaml") or "")
        assert spec["status"] == "done"
        assert work.upstream_file(f"src/f{i:02d}.txt") == f"task {i}\n"
    # History: every task claimed exactly once, and no claim while another holder had it.
    subjects = work.upstream_git("log", "--reverse", "--format=%s", "main").splitlines()
    holders: dict[str, int] = {}
    for subject in subjects:
        verb, _, rest = subject.partition(": ")
        task = rest.split(" ")[0]
        if verb in ("claim", "reclaim"):
            assert holders.get(task, 0) == 0, f"{task} claimed while held"
            holders[task] = 1
        elif verb == "release":
            holders[task] = 0
    claims = [s for s in subjects if s.startswith("claim: ")]
    assert sorted(claims) == sorted(f"claim: t{i:02d}" for i in range(16))
    done = sum(o.count("→ done") for o in outputs)
    assert done == 16


def test_a_session_running_as_another_user_can_do_the_work(work: WorkRepo) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: only a loop running as root can run its sessions as another user")
    with clone_another_user_can_enter(work, "otheruser") as clone:
        from harness.workspace import open_workspace

        ws = open_workspace(clone, "sandboxed")
        write_task(ws, "t1", "x.txt", "x")
        # A shell agent, not the builtin: this machine's Python may live where another user
        # cannot run it (e.g. under /root); the Docker image installs it for its agent user.
        agent = script(
            clone.parent,
            "agent.sh",
            'mkdir -p src && id -u > src/uid.txt && git add -A && git commit -qm "as $(id -u)"\n',
        )
        summary = run(ws, "command", agent, max_iterations=1, settings=short(FAST, session_user=str(OTHER_UID)))
        assert summary.outcomes == {"done": 1}
        assert work.upstream_file("src/uid.txt") == f"{OTHER_UID}\n"  # written and committed as that user
        assert locks_upstream(work) == []


def test_a_malformed_spec_is_reported_and_the_other_tasks_go_on(work: WorkRepo) -> None:
    ws = work.workspace("a1")
    write_task(ws, "good", "x.txt", "x")
    seed = work.clone("seed")
    (seed / "tasks" / "bad.yaml").write_text("title: [unclosed\n")
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "a malformed spec")
    git(seed, "push", "-q", "origin", "HEAD:main")
    lines: list[str] = []
    summary = run(ws, lines=lines, max_iterations=1)
    assert summary.outcomes == {"done": 1}
    assert [line for line in lines if "tasks/bad.yaml" in line and line.startswith("ERROR")]


def test_upstream_down_is_reported_and_retried_not_fatal(work: WorkRepo) -> None:
    ws = work.workspace("a1")
    write_task(ws, "t1", "x.txt", "x")
    away = work.upstream.with_name("moved-away.git")
    work.upstream.rename(away)
    cmd = [sys.executable, "-m", "harness", "loop", "--role", "core-dev", "--backend", "builtin", "--agent", "a1"]
    proc = subprocess.Popen(
        [*cmd, "--idle-backoff", "0.2", "--exit-when-idle"],
        cwd=ws.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    for line in proc.stdout:  # the loop reports the outage and backs off; it does not exit
        seen.append(line)
        if "retrying in" in line:
            break
    assert proc.poll() is None, "".join(seen)
    away.rename(work.upstream)
    rest, _ = proc.communicate(timeout=120)
    out = "".join(seen) + rest
    assert proc.returncode == 0, out
    assert "ERROR upstream: upstream unreachable" in out and "retrying in" in out
    assert "t1 → done" in out and work.upstream_file("x.txt") == "x\n"


def test_a_session_that_changes_nothing_does_not_make_the_loop_spin_on_its_task(work: WorkRepo, tmp_path: Path) -> None:
    ws = work.workspace("a1")
    write_task(ws, "t1", "x.txt", "x")
    idle = script(tmp_path, "idle.sh", "true\n")
    lines: list[str] = []
    summary = run(ws, "command", idle, lines, max_iterations=3, exit_when_idle=True)
    assert summary.outcomes == {"no-change": 1}  # then nothing claimable for this loop: it idles
    assert any("t1: the session made no commits; this loop leaves it to others" in line for line in lines)
    assert locks_upstream(work) == []


def test_each_release_carries_the_next_claim_but_not_past_the_last_iteration(work: WorkRepo) -> None:
    ws = work.workspace("a1")
    for task in ("t1", "t2", "t3"):
        write_task(ws, task, f"src/{task}.txt", task)
    summary = run(ws, max_iterations=2)
    assert summary.outcomes == {"done": 2}
    subjects = work.upstream_git("log", "--format=%s", "main").splitlines()
    done = [s.split()[1] for s in subjects if s.startswith("release:")]
    second = done[0]  # newest first
    # The second task's claim is the child of the first task's release: one push carried both.
    claim_commit = work.upstream_git("log", "--format=%H", "--grep", f"^claim: {second}$", "main").split()
    assert len(claim_commit) == 1
    assert work.upstream_git("log", "-1", "--format=%s", f"{claim_commit[0]}^").strip() == f"release: {done[1]} (done)"
    # The last iteration claimed nothing ahead: no lock is left, the third task untouched.
    assert locks_upstream(work) == []
    third = ({"t1", "t2", "t3"} - set(done)).pop()
    assert not any(s == f"claim: {third}" for s in subjects)


def test_an_idle_loop_claims_the_moment_a_task_is_handed_back(work: WorkRepo) -> None:
    """A clone borrowing a local upstream's objects watches main while it backs off: a task
    handed back is claimed at once, not after the backoff (60 s here)."""
    from harness.locks.claim import claim
    from harness.locks.release import release
    from harness.workspace import open_workspace

    other = work.workspace("other")
    write_task(other, "t1", "x.txt", "x")
    claim(other, "t1")
    idle = open_workspace(work.clone("idle", shared=True), "idle")
    slow = short(FAST, idle_backoff_seconds=60, idle_backoff_max_seconds=60)
    handing_back = threading.Timer(1.0, lambda: release(other, "t1"))
    handing_back.start()
    started = time.monotonic()
    lines: list[str] = []
    summary = run(idle, settings=slow, exit_when_idle=True, lines=lines)
    handing_back.join()
    assert time.monotonic() - started < 30, lines
    assert summary.iterations == 1 and summary.outcomes == {"done": 1}, lines
    assert "until main moves" in "\n".join(lines)
    assert work.upstream_file("x.txt") == "x\n"
