"""`harness status` with heartbeat age, the stale flag, and a Docker fleet's container states."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from harness.history.textfmt import status_lines
from harness.locks.status import status, with_containers
from harness.runtime.image import DEFAULT_BASE
from tests.conftest import WorkRepo, run_harness
from tests.docker_support import docker, engine  # noqa: F401  (engine is a fixture)


def _claim(work: WorkRepo, agent: str, task: str) -> None:
    proc = run_harness("claim", task, "--role", "core-dev", cwd=work.clone(agent), env={"HARNESS_AGENT": agent})
    assert proc.returncode == 0, proc.stderr


def test_rows_show_heartbeat_age_stale_flag_and_container(work: WorkRepo) -> None:
    _claim(work, "core-dev-01", "t1")
    _claim(work, "core-dev-02", "t2")
    assert run_harness("heartbeat", cwd=work.clone("hb"), env={"HARNESS_AGENT": "core-dev-01"}).returncode == 0
    ws = work.workspace("viewer")
    fresh = status(ws)
    rows = {r.task: r for r in fresh.rows}
    assert rows["t1"].heartbeat_age_seconds is not None and rows["t2"].heartbeat_age_seconds is None
    assert not rows["t1"].stale and rows["t1"].container is None
    later = {r.task: r for r in status(ws, clock=lambda: time.time() + 10**6).rows}  # far past every lease
    assert later["t1"].stale and later["t2"].stale
    joined = with_containers(fresh, {"core-dev-01": "running"})
    lines = status_lines(joined)
    assert any(line.startswith("t1") and line.endswith("held (container running)") for line in lines)
    assert any(line.startswith("t2") and line.endswith("held (container gone)") for line in lines)
    assert [r["container"] for r in joined.to_json()["locks"]] == ["running", "gone"]


@pytest.mark.docker
def test_status_fleet_reads_container_states_from_the_engine(work: WorkRepo, engine: None) -> None:  # noqa: F811
    fleet = f"st-{uuid.uuid4().hex[:8]}"
    name = f"harness-{fleet}-core-dev-01"
    labels = ["--label", f"harness.fleet={fleet}", "--label", "harness.agent=core-dev-01"]
    docker("create", "--name", name, *labels, "--label", "harness.role=core-dev", DEFAULT_BASE, "true")
    try:
        _claim(work, "core-dev-01", "t1")
        _claim(work, "core-dev-02", "t2")
        proc = run_harness("status", "--fleet", fleet, "--json", cwd=work.clone("viewer"))
        assert proc.returncode == 0, proc.stderr
        states = {row["task"]: row["container"] for row in json.loads(proc.stdout)["locks"]}
        assert states == {"t1": "created", "t2": "gone"}  # created, never started; t2's has none
    finally:
        docker("rm", "-f", name, check=False)
