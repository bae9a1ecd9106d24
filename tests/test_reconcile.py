"""Invariant 2: a claimer killed with SIGKILL mid-push is reconciled by its nonce."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from harness.errors import LockHeld
from harness.git.stalelocks import pushes_running
from harness.locks import records
from harness.locks.claim import claim
from tests.conftest import WorkRepo, run_harness, wait_until
from tests.prochelpers import live_processes

STALE_AFTER = 1800 + 300 + 120


def install_held_hook(upstream: Path, hook: str, started: Path, go: Path, exit_code: int = 0) -> None:
    """A hook that says it started, then holds the push until ``go`` exists."""
    path = upstream / "hooks" / hook
    path.write_text(
        f"#!/bin/sh\ncat >/dev/null\ntouch '{started}'\nwhile [ ! -e '{go}' ]; do sleep 0.05; done\nexit {exit_code}\n"
    )
    path.chmod(0o755)


def kill_claimer_mid_push(work: WorkRepo, clone: Path, hook: str, exit_code: int = 0) -> Path:
    """SIGKILL a claimer's whole process group while ``hook`` holds its push; the go file."""
    started, go = work.base / f"{hook}.started", work.base / f"{hook}.go"
    install_held_hook(work.upstream, hook, started, go, exit_code)
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "claim", "hot", "--agent", "victim"],
        cwd=clone,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, which we kill whole
    )
    wait_until(lambda: started.exists() or proc.poll() is not None, "the claimer to reach the push")
    assert proc.poll() is None, "the claimer ended before its push"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return go


def receive_packs(work: WorkRepo) -> list[int]:
    return live_processes(marker=f"git-receive-pack {work.upstream}")


def let_the_push_finish(work: WorkRepo, go: Path, clone: Path) -> None:
    go.touch()
    wait_until(lambda: not receive_packs(work) and not pushes_running(clone / ".git"), "the orphaned push to end")
    (work.upstream / "hooks" / go.name.removesuffix(".go")).unlink()


def lock_nonce(work: WorkRepo) -> str | None:
    text = work.upstream_file("current_tasks/hot.lock")
    return yaml.safe_load(text)["nonce"] if text else None


def test_a_killed_claimers_push_still_running_is_not_declared_lost(work: WorkRepo) -> None:
    """The push runs in a session of its own: killing the claimer's group leaves it (and its
    receive-pack) running, so the record stays pending until the push has ended, and a push
    the upstream then refuses is reconciled as not landed."""
    clone = work.clone("victim")
    go = kill_claimer_mid_push(work, clone, "pre-receive", exit_code=1)
    assert receive_packs(work), "killing the claimer's group must not kill receive-pack"
    ws = work.workspace("victim")
    (pending,) = records.all_records(ws.state_dir)
    assert pending.state == records.ClaimState.PENDING and lock_nonce(work) is None
    proc = run_harness("status", cwd=clone)
    assert "interrupted claim of hot is still on its way (git push, pid" in proc.stdout, proc.stdout
    assert records.all_records(ws.state_dir) == [pending]
    let_the_push_finish(work, go, clone)
    proc = run_harness("status", cwd=clone)
    assert "interrupted claim of hot did not land" in proc.stdout
    assert records.all_records(ws.state_dir) == []
    claim(work.workspace("other"), "hot")  # nothing orphaned: the task is free
    work.upstream_git("fsck", "--strict")


def test_a_killed_claimers_push_lands_by_itself_and_is_reconciled_as_held(work: WorkRepo) -> None:
    clone = work.clone("victim")
    go = kill_claimer_mid_push(work, clone, "pre-receive")
    early = run_harness("release", "hot", "--agent", "victim", cwd=clone)  # not fenced: not yet known
    assert early.returncode == 1 and "still being pushed" in early.stderr, early.stderr
    let_the_push_finish(work, go, clone)
    ws = work.workspace("victim")
    (pending,) = records.all_records(ws.state_dir)
    assert lock_nonce(work) == pending.nonce  # receive-pack finished what it began
    proc = run_harness("claim", "hot", "--agent", "victim", cwd=clone)
    assert proc.returncode == 0 and "already held" in proc.stdout
    assert records.read_record(ws.state_dir, "hot") == records.ClaimRecord(
        "hot", "victim", pending.nonce, records.ClaimState.HELD
    )


def test_killed_after_the_ref_moved_reconciles_as_held(work: WorkRepo) -> None:
    clone = work.clone("victim")
    go = kill_claimer_mid_push(work, clone, "post-receive")
    ws = work.workspace("victim")
    (pending,) = records.all_records(ws.state_dir)
    assert pending.state == records.ClaimState.PENDING and lock_nonce(work) == pending.nonce
    proc = run_harness("status", cwd=clone)
    assert "interrupted claim of hot landed; you hold it" in proc.stdout
    assert records.read_record(ws.state_dir, "hot") == records.ClaimRecord(
        "hot", "victim", pending.nonce, records.ClaimState.HELD
    )
    let_the_push_finish(work, go, clone)
    # No duplicate holder, and the lock is not orphaned past its lease.
    with pytest.raises(LockHeld, match="held by victim"):
        claim(work.workspace("other"), "hot")
    taken = claim(work.workspace("other"), "hot", clock=lambda: time.time() + STALE_AFTER + 5)
    assert taken.reclaimed_from == "victim"
    log = work.upstream_git("log", "--format=%H", "--diff-filter=A", "main", "--", "current_tasks/hot.lock")
    assert len(log.split()) == 1
    work.upstream_git("fsck", "--strict")
