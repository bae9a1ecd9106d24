"""Dead agents do not hold locks: a container killed mid-task has its lock handed back as
abandoned by the fleet's watcher, long before the lease (30 minutes by default) runs out."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import WorkRepo, git
from tests.docker_support import Fleet, agent_image, docker, engine  # noqa: F401

pytestmark = pytest.mark.docker

# Claims the task the way an agent does, then "works" on it until killed.
HOLD = "harness claim {task} --repo /workspace --note 'working' && touch /tmp/claimed && sleep infinity"
BOUND_SECONDS = 20


def lock_at_tip(work: WorkRepo, task: str) -> str | None:
    return work.upstream_file(f"current_tasks/{task}.lock")


def wait_until(predicate: object, timeout: float) -> float:
    start = time.monotonic()
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() - start < timeout, f"not within {timeout} s"
        time.sleep(0.2)
    return time.monotonic() - start


def test_killed_container_loses_its_lock_as_abandoned_within_bounded_time(agent_image: str, work: WorkRepo) -> None:  # noqa: F811
    fleet = Fleet(agent_image, None, watch=True)
    try:
        fleet.up(work.upstream, {"core-dev": 2}, "bash", "-c", HOLD.format(task="task-$HARNESS_AGENT"))
        wait_until(lambda: lock_at_tip(work, "task-core-dev-01") and lock_at_tip(work, "task-core-dev-02"), 60)
        docker("kill", fleet.container("core-dev-01"))
        took = wait_until(lambda: lock_at_tip(work, "task-core-dev-01") is None, BOUND_SECONDS)
        log = git(work.upstream, "log", "--format=%s", "main")
        assert "release: task-core-dev-01 (abandoned)" in log.splitlines()
        # The living agent keeps its lock; a removed container is noticed the same way.
        assert lock_at_tip(work, "task-core-dev-02") is not None
        docker("rm", "-f", fleet.container("core-dev-02"))
        wait_until(lambda: lock_at_tip(work, "task-core-dev-02") is None, BOUND_SECONDS)
        print(f"lock of the killed container released after {took:.1f} s")
    finally:
        fleet.runtime.down(fleet.name, timeout=5)
    assert fleet.leftovers() == []


def test_down_hands_back_locks_a_loop_could_not(agent_image: str, work: WorkRepo, tmp_path: Path) -> None:  # noqa: F811
    fleet = Fleet(agent_image, None, watch=False)  # no watcher: down itself must do it
    fleet.up(work.upstream, {"perf": 1}, "bash", "-c", HOLD.format(task="slow-task"))
    wait_until(lambda: lock_at_tip(work, "slow-task") is not None, 60)
    fleet.runtime.down(fleet.name, timeout=2)  # `sleep infinity` ignores nothing, but never releases
    assert lock_at_tip(work, "slow-task") is None
    assert "release: slow-task (abandoned)" in git(work.upstream, "log", "--format=%s", "main")


def test_down_removes_the_fleet_even_when_the_upstream_is_gone(agent_image: str, tmp_path: Path) -> None:  # noqa: F811
    import shutil

    from harness.initrepo import init_work_repo

    upstream = init_work_repo(tmp_path / "gone").upstream
    fleet = Fleet(agent_image, None, watch=True)
    fleet.up(upstream, {"docs": 1}, "sleep", "infinity")
    shutil.rmtree(upstream)  # nobody can hand locks back now; the containers must still go
    assert [i.state for i in fleet.runtime.down(fleet.name, timeout=2)] == ["exited"]
    assert fleet.leftovers() == [] and not fleet.state_dir().exists()
