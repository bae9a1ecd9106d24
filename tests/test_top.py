"""`harness top`: one row per agent from locks, loop events and baselines; refreshes in place."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from harness.gate.baseline import Baseline, BaselineStore
from harness.loop.events import IterationEvent, IterationOutcome, append_event
from harness.runtime.image import DEFAULT_BASE
from tests.conftest import WorkRepo, git, run_harness
from tests.docker_support import docker, engine  # noqa: F401  (engine is a fixture)

AGENT_ENV = {"HARNESS_AGENT": "core-dev-01"}


def _events(path: Path) -> Path:
    """As the loops write them."""
    for event in (
        IterationEvent(
            agent="core-dev-01", role="core-dev", iteration=1, started_at=1.0, outcome=IterationOutcome.DONE
        ),
        IterationEvent(
            agent="core-dev-01", role="core-dev", iteration=2, started_at=2.0, outcome=IterationOutcome.NO_CHANGE
        ),
        IterationEvent(
            agent="perf-01",
            role="perf",
            iteration=4,
            started_at=3.0,
            outcome=IterationOutcome.LOST,
            cost_usd=1.25,
            input_tokens=900,
        ),
    ):
        append_event(path, event)
    return path


def test_one_frame_joins_locks_events_and_tests(work: WorkRepo, tmp_path: Path) -> None:
    clone = work.clone("a1")
    assert run_harness("claim", "t1", "--role", "core-dev", cwd=clone, env=AGENT_ENV).returncode == 0
    tip = work.upstream_git("rev-parse", "main").strip()
    BaselineStore(work.upstream / "harness" / "baseline").save(Baseline(tip, frozenset({"a", "b", "c"})))
    proc = run_harness("top", "--once", "--events", str(_events(tmp_path / "events.jsonl")), cwd=work.clone("view"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "2 agents, 1 locks (0 stale), 3 tests passing, spend $1.25" in lines[0]
    mine = next(line.split() for line in lines if line.startswith("core-dev-01"))
    assert mine[1:4] == ["core-dev", "-", "t1"] and mine[6:8] == ["2", "no-change"]
    perf = next(line.split() for line in lines if line.startswith("perf-01"))
    assert perf[1:4] == ["perf", "-", "-"] and perf[-4:] == ["4", "lost", "900", "1.25"]
    assert "\x1b[" not in proc.stdout  # --once, or a pipe: no terminal control codes


def test_live_view_refreshes_in_place_and_sees_new_claims(work: WorkRepo) -> None:
    view = work.clone("view")
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "160"}
    argv = [sys.executable, "-m", "harness", "top", "--frames", "2", "--interval", "4"]
    proc = subprocess.Popen(argv, cwd=view, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    try:
        first = _read_until(master, b"no agents seen yet", deadline=60)
        assert first.startswith(b"\x1b[H\x1b[2J")  # home + clear: the frame is redrawn, not appended
        claimer = work.clone("a1")
        assert run_harness("claim", "t9", cwd=claimer, env=AGENT_ENV).returncode == 0
        second = _read_until(master, b"t9", deadline=60)
        assert b"\x1b[H\x1b[2J" in second and b"core-dev-01" in second
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill() if proc.poll() is None else None
        os.close(master)


def _read_until(fd: int, needle: bytes, deadline: float) -> bytes:
    data = b""
    end = time.monotonic() + deadline
    while needle not in data:
        remaining = end - time.monotonic()
        assert remaining > 0, f"{needle!r} never appeared; got {data[-600:]!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            assert chunk, f"top exited before {needle!r}; got {data[-600:]!r}"
            data += chunk
    return data


def test_top_on_a_plain_repo_without_upstream_still_draws(tmp_path: Path) -> None:
    repo = tmp_path / "plain"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    proc = run_harness("top", "--once", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert "locks unavailable" in proc.stdout and "no agents seen yet" in proc.stdout


@pytest.mark.docker
def test_fleet_containers_show_as_rows_with_their_state(work: WorkRepo, engine: None) -> None:  # noqa: F811
    fleet = f"top-{uuid.uuid4().hex[:8]}"
    name = f"harness-{fleet}-perf-01"
    labels = ["--label", f"harness.fleet={fleet}", "--label", "harness.agent=perf-01", "--label", "harness.role=perf"]
    docker("create", "--name", name, *labels, DEFAULT_BASE, "true")
    try:
        proc = run_harness("top", "--once", "--fleet", fleet, "--runtime", "docker", cwd=work.clone("view"))
        assert proc.returncode == 0, proc.stderr
        row = next(line.split() for line in proc.stdout.splitlines() if line.startswith("perf-01"))
        assert row[1:3] == ["perf", "created"]
    finally:
        docker("rm", "-f", name, check=False)
