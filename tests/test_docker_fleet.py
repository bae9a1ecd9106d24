"""A 3-agent fleet with the builtin agent drains a task queue through the real image and the real loop."""

from __future__ import annotations

import pytest

from tests.conftest import WorkRepo, git, run_harness, wait_until
from tests.docker_support import Fleet, agent_image, docker, engine  # noqa: F401

pytestmark = pytest.mark.docker

TASKS = 6
DRAIN_TIMEOUT = 240


def add_tasks(work: WorkRepo) -> None:
    for n in range(1, TASKS + 1):
        body = f"@write out/task-{n}.txt\nwritten for task {n}\n@end\n"
        proc = run_harness("tasks", "add", f"task-{n}", "--title", f"file {n}", "--body", body, cwd=work.first_clone)
        assert proc.returncode == 0, proc.stderr


def test_three_builtin_agents_drain_the_queue_and_down_leaves_nothing(agent_image: str, work: WorkRepo) -> None:  # noqa: F811
    add_tasks(work)
    # With the gate harness init installed: concurrent pushes that find main moved are lost
    # races for the pusher (retried), not refusals.
    assert (work.upstream / "hooks" / "pre-receive").exists()
    fleet = Fleet(agent_image, None, watch=True)
    volumes_before = set(docker("volume", "ls", "-q").stdout.split())
    try:
        fleet.up(work.upstream, {"core-dev": 3}, "--exit-when-idle", "--idle-backoff", "0.5", memory="512m")
        wait_until(
            lambda: not any(info.state in ("running", "restarting") for info in fleet.runtime.ps(fleet.name)),
            "the fleet to drain the queue",
            timeout=DRAIN_TIMEOUT,
            every=1,
        )
        states = {info.agent: info.state for info in fleet.runtime.ps(fleet.name)}
        assert states == dict.fromkeys(fleet.agents(), "exited")
        exits = [docker("inspect", "-f", "{{.State.ExitCode}}", fleet.container(a)).stdout.strip() for a in states]
        assert exits == ["0", "0", "0"]
    finally:
        fleet.runtime.down(fleet.name, timeout=10)
    log = git(work.upstream, "log", "--format=%s", "main").splitlines()
    for n in range(1, TASKS + 1):
        assert work.upstream_file(f"out/task-{n}.txt") == f"written for task {n}\n"
        assert log.count(f"release: task-{n} (done)") == 1
        assert "status: done" in (work.upstream_file(f"tasks/task-{n}.yaml") or "")
    assert git(work.upstream, "ls-tree", "--name-only", "main", "current_tasks/").split() == ["current_tasks/README.md"]
    authors = set(git(work.upstream, "log", "--format=%an", "main").split())
    assert len(authors & set(fleet.agents())) >= 2, authors  # the work really was shared out
    assert fleet.leftovers() == []
    assert set(docker("volume", "ls", "-q").stdout.split()) <= volumes_before
    assert sorted(docker("network", "ls", "--format", "{{.Name}}").stdout.split()) == ["bridge", "host", "none"]
    assert not fleet.state_dir().exists()
