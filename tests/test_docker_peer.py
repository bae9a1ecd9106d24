"""Peering between two live agent containers: the critic reads the developer's uncommitted work."""

from __future__ import annotations

import pytest

from tests.conftest import WorkRepo, run_harness
from tests.docker_support import Fleet, agent_image, engine  # noqa: F401

pytestmark = pytest.mark.docker

WORK = (
    "mkdir -p src .ssh && echo 'int main(){}' > src/main.c && echo wip > PROGRESS.md"
    " && echo TOKEN=1 > .env && echo //registry/:_authToken=x > .npmrc && echo k > .ssh/id_rsa"
    " && ln -s /etc/shadow src/shadow && ln -s PROGRESS.md latest"
)


def test_peer_copies_work_in_progress_and_nothing_else(agent_image: str, work: WorkRepo) -> None:  # noqa: F811
    fleet = Fleet(agent_image, None, watch=False)
    try:
        fleet.up(work.upstream, {"core-dev": 1, "critic": 1}, "sleep", "infinity")
        fleet.wait_for("test -d /workspace/.shared")
        assert fleet.exec("core-dev-01", f"cd /workspace && {WORK}", user="agent").returncode == 0
        proc = run_harness("peer", "core-dev-01", "--into", "critic-01", "--fleet", fleet.name, cwd=work.base)
        assert proc.returncode == 0, proc.stderr
        listing = fleet.exec("critic-01", "cd /workspace/.shared/core-dev-01 && find . | sort").stdout.split()
        assert {"./src/main.c", "./PROGRESS.md", "./harness.yaml"} <= set(listing)
        for absent in ("./.env", "./.npmrc", "./.ssh", "./src/shadow", "./latest", "./.git"):
            assert absent not in listing
        assert fleet.exec("critic-01", "find /workspace/.shared -type l | wc -l").stdout.strip() == "0"
        assert fleet.exec("critic-01", "cat /workspace/.shared/core-dev-01/PROGRESS.md").stdout == "wip\n"
        write = fleet.exec("critic-01", "echo x >> /workspace/.shared/core-dev-01/PROGRESS.md", user="agent")
        assert write.returncode != 0  # read-only for the critic
        status = fleet.exec("critic-01", "git -C /workspace status --porcelain", user="agent").stdout
        assert ".shared" not in status  # never part of the critic's commits
    finally:
        fleet.runtime.down(fleet.name, timeout=5)
