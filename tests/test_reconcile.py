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
from harness.locks import records
from harness.locks.claim import claim
from tests.conftest import WorkRepo, run_harness

STALE_AFTER = 1800 + 300 + 120


def install_stalling_hook(upstream: Path, hook: str, marker: Path) -> None:
    path = upstream / "hooks" / hook
    path.write_text(f"#!/bin/sh\ncat >/dev/null\ntouch '{marker}'\nsleep 30\n")
    path.chmod(0o755)


def kill_claimer_mid_push(work: WorkRepo, clone: Path, hook: str) -> None:
    marker = work.base / f"{hook}.started"
    install_stalling_hook(work.upstream, hook, marker)
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "claim", "hot", "--agent", "victim"],
        cwd=clone,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: we kill git push and receive-pack with it
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "claimer never reached the push"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    (work.upstream / "hooks" / hook).unlink()


def lock_nonce(work: WorkRepo) -> str | None:
    text = work.upstream_file("current_tasks/hot.lock")
    return yaml.safe_load(text)["nonce"] if text else None


def test_killed_before_the_ref_moved_reconciles_as_not_landed(work: WorkRepo) -> None:
    clone = work.clone("victim")
    kill_claimer_mid_push(work, clone, "pre-receive")
    ws = work.workspace("victim")
    (pending,) = records.all_records(ws.state_dir)
    assert pending.state == records.ClaimState.PENDING and lock_nonce(work) is None
    proc = run_harness("status", cwd=clone)
    assert "interrupted claim of hot did not land" in proc.stdout
    assert records.all_records(ws.state_dir) == []
    claim(work.workspace("other"), "hot")  # nothing orphaned: the task is free
    work.upstream_git("fsck", "--strict")


def test_killed_after_the_ref_moved_reconciles_as_held(work: WorkRepo) -> None:
    clone = work.clone("victim")
    kill_claimer_mid_push(work, clone, "post-receive")
    ws = work.workspace("victim")
    (pending,) = records.all_records(ws.state_dir)
    assert pending.state == records.ClaimState.PENDING and lock_nonce(work) == pending.nonce
    proc = run_harness("status", cwd=clone)
    assert "interrupted claim of hot landed; you hold it" in proc.stdout
    assert records.read_record(ws.state_dir, "hot") == records.ClaimRecord(
        "hot", "victim", pending.nonce, records.ClaimState.HELD
    )
    # No duplicate holder, and the lock is not orphaned past its lease.
    with pytest.raises(LockHeld, match="held by victim"):
        claim(work.workspace("other"), "hot")
    taken = claim(work.workspace("other"), "hot", clock=lambda: time.time() + STALE_AFTER + 5)
    assert taken.reclaimed_from == "victim"
    log = work.upstream_git("log", "--format=%H", "--diff-filter=A", "main", "--", "current_tasks/hot.lock")
    assert len(log.split()) == 1
    work.upstream_git("fsck", "--strict")


def test_a_later_claim_reconciles_too(work: WorkRepo) -> None:
    clone = work.clone("victim")
    kill_claimer_mid_push(work, clone, "post-receive")
    proc = run_harness("claim", "hot", "--agent", "victim", cwd=clone)
    assert proc.returncode == 0 and "already held" in proc.stdout
