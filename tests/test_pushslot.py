"""The push slot: pushers to a local upstream take turns, but never wait forever."""

from __future__ import annotations

import fcntl
import subprocess
import sys
import time

from harness.git.pushslot import SLOT_WAIT_SECONDS, push_slot
from harness.git.repo import GitRepo
from harness.git.upstream import local_upstream_path
from tests.conftest import WorkRepo


def claim_process(work: WorkRepo, task: str) -> subprocess.Popen[str]:
    clone = work.clone(f"claimer-{task}")
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "claim", task, "--agent", f"agent-{task}"],
        cwd=clone,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_claim_waits_for_the_slot_holder_then_lands(work: WorkRepo) -> None:
    lock = work.upstream / "harness" / "push.lock"
    lock.parent.mkdir(exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # another pusher mid-push
        proc = claim_process(work, "t1")
        time.sleep(min(1.0, SLOT_WAIT_SECONDS / 2))
        assert proc.poll() is None and work.upstream_file("current_tasks/t1.lock") is None
        fcntl.flock(handle, fcntl.LOCK_UN)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert work.upstream_file("current_tasks/t1.lock") is not None


def test_a_stuck_slot_holder_delays_a_claim_by_the_wait_at_most(work: WorkRepo) -> None:
    lock = work.upstream / "harness" / "push.lock"
    lock.parent.mkdir(exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # never released while the claim runs
        started = time.monotonic()
        proc = claim_process(work, "t2")
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert time.monotonic() - started >= SLOT_WAIT_SECONDS  # it did wait, then went ahead
    assert work.upstream_file("current_tasks/t2.lock") is not None


def test_no_queue_for_an_upstream_on_another_machine(work: WorkRepo) -> None:
    repo = GitRepo(work.clone("a"))
    assert local_upstream_path(repo) == work.upstream
    repo.run("remote", "set-url", "origin", "ssh://example.invalid/repo.git")
    fresh = GitRepo(repo.path)
    with push_slot(fresh, wait=0.1) as turn:
        assert not turn.held and not turn


def test_a_pusher_that_had_to_wait_is_told_so(work: WorkRepo) -> None:
    repo = GitRepo(work.clone("w"))
    with push_slot(repo) as turn:
        assert turn.held and not turn.waited  # nobody else was pushing
    lock = work.upstream / "harness" / "push.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_FOR_A_MOMENT, str(lock)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with push_slot(repo) as turn:
        assert turn.held and turn.waited  # main has probably moved: publish fetches afresh
    holder.wait(timeout=10)


HOLD_FOR_A_MOMENT = """
import fcntl, sys, time
with open(sys.argv[1], "a") as handle:
    fcntl.flock(handle, fcntl.LOCK_EX)
    print("held", flush=True)
    time.sleep(0.3)
"""
