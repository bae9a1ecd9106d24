"""However a loop ends, no lock of its own stays at the tip; and what a killed command left in
the clone (a rebase, a merge) does not fail the next one. Real loops, real git, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.locks import records
from tests.conftest import WorkRepo, commit_file, git, run_harness, wait_until
from tests.loophelpers import FAST, locks_upstream, parked_refs, run, script, short, write_task


def upstream_goes_away_during_the_session(work: WorkRepo, tmp_path: Path) -> tuple[str, Path]:
    """A command agent that commits work while the upstream disappears (the disk it is on is
    unmounted, the network drops): every push and fetch after the session fails."""
    away = work.upstream.with_name("gone-away.git")
    body = f"mv '{work.upstream}' '{away}'\necho work > w.txt\ngit add w.txt\ngit commit -qm 'the work'\n"
    return script(tmp_path, "agent.sh", body), away


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_a_failing_loop_leaves_no_lock_at_the_tip(work: WorkRepo, tmp_path: Path, sig: int) -> None:
    clone = work.clone("a1")
    write_task(work.workspace("a1"), "t1", "x.txt", "x")
    agent, away = upstream_goes_away_during_the_session(work, tmp_path)
    cmd = [sys.executable, "-m", "harness", "loop", "--role", "core-dev", "--agent-cmd", agent, "--agent", "a1"]
    proc = subprocess.Popen(
        [*cmd, "--idle-backoff", "30"], cwd=clone, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # the iteration fails outside the session, over and over
        seen.append(line)
        if "retrying in" in line:
            break
    assert proc.poll() is None, "".join(seen)
    assert records.read_record(clone / ".git" / "harness", "t1") is not None  # it still holds t1
    proc.send_signal(sig)
    away.rename(work.upstream)  # the upstream comes back while the loop is stopping
    rest, _ = proc.communicate(timeout=120)
    out = "".join(seen) + rest
    assert proc.returncode == 0, out
    assert f"loop stopped: {signal.Signals(sig).name}" in out
    assert locks_upstream(work) == []
    (ref,) = parked_refs(work)  # and the session's commit is kept, not lost
    assert work.upstream_git("show", f"{ref}:w.txt") == "work\n"
    assert records.all_records(clone / ".git" / "harness") == []


def test_a_hand_back_that_keeps_failing_says_so_and_the_next_start_settles_it(work: WorkRepo, tmp_path: Path) -> None:
    ws = work.workspace("a1")
    write_task(ws, "t1", "x.txt", "x")
    agent, away = upstream_goes_away_during_the_session(work, tmp_path)
    lines: list[str] = []
    try:
        run(ws, "command", agent, lines, max_iterations=1, settings=short(FAST, hand_back_timeout_seconds=1))
    except HarnessError as exc:
        error = str(exc)
    else:
        raise AssertionError("a hand-back that failed must not end the loop quietly")
    assert "could not hand back t1" in error
    assert any(line.startswith("ERROR t1: could not hand the lock back within 1 s") for line in lines), lines
    record = records.read_record(ws.state_dir, "t1")
    assert record is not None and record.state == records.ClaimState.HELD  # kept for the next start
    away.rename(work.upstream)
    assert locks_upstream(work) == ["current_tasks/t1.lock"]
    stop = tmp_path / "stop"
    stop.touch()
    proc = run_harness("loop", "--role", "core-dev", "--agent", "a1", "--stop-file", str(stop), cwd=ws.root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert locks_upstream(work) == [] and records.all_records(ws.state_dir) == []
    (ref,) = parked_refs(work)
    assert work.upstream_git("show", f"{ref}:w.txt") == "work\n"


def test_once_with_an_iteration_failing_after_its_claim_exits_1_with_no_lock_left(work: WorkRepo) -> None:
    """--once re-raises an iteration's error (exit 1), with its lock handed back first."""
    clone = work.clone("a1")
    write_task(work.workspace("a1"), "t1", "x.txt", "x")
    hook = clone / ".git" / "hooks" / "post-checkout"  # its status becomes checkout's: the
    hook.write_text("#!/bin/sh\necho 'checkout refused by a hook' >&2\nexit 1\n")  # step after the claim fails
    hook.chmod(0o755)
    proc = run_harness("loop", "--role", "core-dev", "--backend", "builtin", "--once", "--agent", "a1", cwd=clone)
    assert proc.returncode == 1 and "checkout refused by a hook" in proc.stderr, proc.stderr
    assert locks_upstream(work) == []
    assert "release: t1 (abandoned)" in work.upstream_git("log", "--format=%s", "main")


def test_a_release_killed_during_its_rebase_is_cleaned_up_by_the_next_release(work: WorkRepo) -> None:
    clone = work.clone("a1")
    assert run_harness("claim", "t1", "--agent", "a1", cwd=clone).returncode == 0
    commit_file(clone, "src/a.txt", "a\n", "work")
    other = work.clone("other")
    commit_file(other, "src/b.txt", "b\n", "someone else's")
    git(other, "push", "-q", "origin", "HEAD:main")
    started, go = clone.parent / "rebasing", clone.parent / "go"
    hook = clone / ".git" / "hooks" / "post-commit"  # runs for each commit the rebase replays
    hook.write_text(f"#!/bin/sh\ntouch '{started}'\nwhile [ ! -e '{go}' ]; do sleep 0.05; done\n")
    hook.chmod(0o755)
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "release", "t1", "--done", "--agent", "a1"],
        cwd=clone,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_until(lambda: started.exists() or proc.poll() is not None, "the release to be in its rebase")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    go.touch()
    hook.unlink()
    assert (clone / ".git" / "rebase-merge").exists()
    again = run_harness("release", "t1", "--done", "--agent", "a1", cwd=clone)
    assert again.returncode == 0, again.stderr
    assert "conflict" not in again.stderr
    (line,) = [w for w in again.stderr.splitlines() if w.startswith("WARNING")]
    assert "aborted a rebase left in progress" in line
    assert not (clone / ".git" / "rebase-merge").exists()
    assert work.upstream_file("src/a.txt") == "a\n" and work.upstream_file("src/b.txt") == "b\n"
    assert locks_upstream(work) == []


def test_a_merge_left_in_progress_is_aborted_before_a_claim(work: WorkRepo) -> None:
    clone = work.clone("a1")
    commit_file(clone, "f.txt", "ours\n", "ours")
    other = work.clone("other")
    commit_file(other, "f.txt", "theirs\n", "theirs")
    git(other, "push", "-q", "origin", "HEAD:main")
    git(clone, "fetch", "-q")
    merge = subprocess.run(["git", "merge", "origin/main"], cwd=clone, capture_output=True, check=False)
    assert merge.returncode != 0 and (clone / ".git" / "MERGE_HEAD").exists()
    proc = run_harness("claim", "t1", "--agent", "a1", cwd=clone)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING aborted a merge left in progress" in proc.stderr
    assert not (clone / ".git" / "MERGE_HEAD").exists()
    assert (clone / "f.txt").read_text() == "ours\n"  # the branch is as it was before the merge


def test_the_loops_sync_aborts_a_merge_a_session_left_in_progress(
    work: WorkRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = work.workspace("a1")
    write_task(ws, "t1", "x.txt", "x")
    commit_file(ws.root, "f.txt", "ours\n", "ours")
    other = work.clone("other")
    commit_file(other, "f.txt", "theirs\n", "theirs")
    git(other, "push", "-q", "origin", "HEAD:main")
    git(ws.root, "fetch", "-q")
    subprocess.run(["git", "merge", "origin/main"], cwd=ws.root, capture_output=True, check=False)
    assert (ws.root / ".git" / "MERGE_HEAD").exists()
    lines: list[str] = []
    summary = run(ws, lines=lines, max_iterations=1)
    assert summary.outcomes == {"done": 1}, lines
    assert not (ws.root / ".git" / "MERGE_HEAD").exists()
    assert "WARNING aborted a merge left in progress" in capsys.readouterr().err
    (ref,) = parked_refs(work)  # the commit the merge had been started on is kept
    assert work.upstream_git("show", f"{ref}:f.txt") == "ours\n"
