"""Stale git lock files (git/stalelocks.py), with real git processes killed at the worst moment.

A reference-transaction hook on the upstream holds ``receive-pack`` at "prepared", when it
holds ``refs/heads/main.lock`` (and ``HEAD.lock``): the exact window in which a killed
receive-pack leaves them behind and every push of the fleet fails after it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.git import stalelocks
from harness.locks.claim import claim
from tests.conftest import WorkRepo, commit_file, git, run_harness, wait_until
from tests.prochelpers import live_processes

OLD = 60.0  # seconds: a lock file this old was left by a process that died


def hold_main_at_prepared(work: WorkRepo) -> tuple[Path, Path]:
    """receive-pack stops while it holds main's ref lock, until the go file exists."""
    started, go = work.base / "held", work.base / "go"
    hook = work.upstream / "hooks" / "reference-transaction"
    hook.write_text(
        "#!/bin/sh\nrefs=$(cat)\n"
        'if [ "$1" = prepared ] && echo "$refs" | grep -q " refs/heads/main$"; then\n'
        f"  touch '{started}'\n  while [ ! -e '{go}' ]; do sleep 0.05; done\nfi\n"
    )
    hook.chmod(0o755)
    return started, go


def upstream_locks(work: WorkRepo) -> set[str]:
    return {
        str(p.relative_to(work.upstream))
        for p in [*work.upstream.glob("*.lock"), *work.upstream.glob("refs/**/*.lock")]
    }


def receive_packs(work: WorkRepo) -> list[int]:
    return live_processes(marker=f"git-receive-pack {work.upstream}")


def start_claim(clone: Path, task: str, agent: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "claim", task, "--agent", agent],
        cwd=clone,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("WARNING")]


def test_killing_the_pusher_while_receive_pack_holds_the_ref_lock_leaves_no_lock(work: WorkRepo) -> None:
    victim, other = work.clone("victim"), work.clone("other")
    started, go = hold_main_at_prepared(work)
    proc = start_claim(victim, "hot", "victim")
    wait_until(lambda: started.exists() or proc.poll() is not None, "receive-pack to take main's ref lock")
    assert "refs/heads/main.lock" in upstream_locks(work)
    os.killpg(proc.pid, signal.SIGKILL)  # the claimer, its python and everything in its group
    proc.communicate()
    assert receive_packs(work), "receive-pack must not die with the pusher"
    go.touch()
    wait_until(lambda: not receive_packs(work), "receive-pack to finish the update it began")
    assert upstream_locks(work) == set()
    assert "hot" in (work.upstream_file("current_tasks/hot.lock") or "")  # the claim landed ...
    held = run_harness("claim", "hot", "--agent", "victim", cwd=victim)
    assert held.returncode == 0 and "already held" in held.stdout  # ... and is reconciled by its nonce
    after = run_harness("claim", "cold", "--agent", "other", cwd=other)
    assert after.returncode == 0 and warnings(after.stderr) == [], after.stderr


def test_a_receive_pack_killed_holding_the_ref_lock_is_cleared_by_the_next_claim(work: WorkRepo) -> None:
    """What the fleet saw before pushes ran detached (and what an OOM kill still does): the
    upstream's ref locks left behind. The next claim waits until they are stale, removes
    them with one WARNING line each, and gets through by itself."""
    victim, other = work.clone("victim"), work.clone("other")
    started, go = hold_main_at_prepared(work)
    proc = start_claim(victim, "hot", "victim")
    wait_until(lambda: started.exists() or proc.poll() is not None, "receive-pack to take main's ref lock")
    (pack,) = receive_packs(work)
    os.kill(pack, signal.SIGKILL)
    go.touch()  # the hook it was running has no one to report to
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    (work.upstream / "hooks" / "reference-transaction").unlink()
    left = upstream_locks(work)
    assert "refs/heads/main.lock" in left
    start = time.monotonic()
    after = run_harness("claim", "cold", "--agent", "other", cwd=other)
    assert after.returncode == 0, after.stderr
    lines = warnings(after.stderr)
    assert len(lines) == len(left) and lines == after.stderr.splitlines(), after.stderr
    for name in left:  # one line per file, naming it; none removed before it was 10 s old
        (line,) = [w for w in lines if str(work.upstream / name) in w]
        assert "removed stale git lock" in line and int(line.split("(")[1].split(" s old")[0]) >= 10
    assert time.monotonic() - start >= stalelocks.STALE_SECONDS - 1  # it waited; it did not remove a fresh one
    assert upstream_locks(work) == set() and "cold" in (work.upstream_file("current_tasks/cold.lock") or "")
    status = run_harness("status", cwd=victim)
    assert "interrupted claim of hot did not land" in status.stdout  # the killed claim: by its nonce


@pytest.fixture
def live_git_in(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Real git processes working in a repository (``git hash-object --stdin`` waits for input)."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait()


def test_a_lock_a_live_git_process_may_hold_is_waited_for_and_never_removed(
    work: WorkRepo, live_git_in: list[subprocess.Popen[bytes]], capsys: pytest.CaptureFixture[str]
) -> None:
    lock = work.upstream / "refs" / "heads" / "main.lock"
    lock.write_text("0" * 40 + "\n")
    os.utime(lock, (time.time() - OLD, time.time() - OLD))
    holder = subprocess.Popen(["git", "hash-object", "--stdin"], cwd=work.upstream, stdin=subprocess.PIPE)
    live_git_in.append(holder)
    wait_until(lambda: bool(stalelocks.git_processes(work.upstream)), "the git process to show in /proc")
    why = stalelocks.settle(lock, time.monotonic() + 1.0)
    assert f"git process {holder.pid}" in why and lock.exists()
    holder.kill()
    holder.wait()
    assert stalelocks.settle(lock, time.monotonic() + 30) == "" and not lock.exists()
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("WARNING removed stale git lock") and str(lock) in line


def test_a_fresh_lock_is_left_alone(work: WorkRepo) -> None:
    lock = work.upstream / "HEAD.lock"
    lock.write_text("ref: refs/heads/main\n")
    why = stalelocks.settle(lock, time.monotonic() + 0.5)
    assert "it is fresh" in why and lock.exists()


def test_a_lock_that_stays_held_is_an_error_naming_it_not_a_lost_race(
    work: WorkRepo, live_git_in: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = work.upstream / "refs" / "heads" / "main.lock"
    lock.write_text("0" * 40 + "\n")
    live_git_in.append(subprocess.Popen(["git", "hash-object", "--stdin"], cwd=work.upstream, stdin=subprocess.PIPE))
    monkeypatch.setattr(stalelocks, "WAIT_SECONDS", 1.0)
    start = time.monotonic()
    with pytest.raises(HarnessError, match=r"refs/heads/main\.lock blocks every push") as raised:
        claim(work.workspace("a1"), "t1")
    assert "lost a race" not in str(raised.value) and time.monotonic() - start < 60
    assert lock.exists()


def test_a_stale_index_lock_in_a_clone_does_not_fail_the_release(work: WorkRepo) -> None:
    clone = work.clone("a1")
    assert run_harness("claim", "t1", "--agent", "a1", cwd=clone).returncode == 0
    commit_file(clone, "src/a.txt", "a\n", "work")
    other = work.clone("other")  # main moves, so the release must rebase (and needs the index)
    commit_file(other, "src/b.txt", "b\n", "someone else's")
    git(other, "push", "-q", "origin", "HEAD:main")
    index_lock = clone / ".git" / "index.lock"
    index_lock.touch()
    os.utime(index_lock, (time.time() - OLD, time.time() - OLD))
    proc = run_harness("release", "t1", "--done", "--agent", "a1", cwd=clone)
    assert proc.returncode == 0, proc.stderr
    (line,) = warnings(proc.stderr)
    assert str(index_lock) in line and not index_lock.exists()
    assert work.upstream_file("src/a.txt") == "a\n"


def test_a_stale_index_lock_does_not_fail_every_iteration_of_the_loop(work: WorkRepo) -> None:
    clone = work.clone("a1")
    run_harness("tasks", "add", "greet", "--title", "greet", "--body", "@write g.txt\nhi\n@end\n", cwd=clone)
    index_lock = clone / ".git" / "index.lock"
    index_lock.touch()  # a session killed inside `git commit`
    os.utime(index_lock, (time.time() - OLD, time.time() - OLD))
    proc = run_harness("loop", "--role", "core-dev", "--backend", "builtin", "--once", "--agent", "a1", cwd=clone)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (line,) = warnings(proc.stderr)
    assert str(index_lock) in line
    assert "greet → done" in proc.stdout and work.upstream_file("g.txt") == "hi\n"
    assert work.upstream_git("ls-tree", "--name-only", "main", "current_tasks/").split() == ["current_tasks/README.md"]
