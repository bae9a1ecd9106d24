"""Fixtures for the Docker tests: a real engine (its absence FAILS, never skips), the agent
image built once per source state, and fleets that are always torn down.

The image tag carries a hash of everything that goes into the image, so parallel pytest
workers and repeated runs share one build; a file lock serialises the first build.
"""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.runtime.base import FleetSpec, agent_ids
from harness.runtime.docker import DockerOptions, DockerRuntime, connect, image_exists
from harness.runtime.fleetstate import fleet_dir
from harness.runtime.image import DEFAULT_BASE, build

ROOT = Path(__file__).resolve().parent.parent


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The docker CLI, as a user would run it."""
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=timeout)


def _source_hash() -> str:
    digest = hashlib.sha256()
    files = [*sorted((ROOT / "harness").rglob("*.py")), *sorted((ROOT / "docker").iterdir()), ROOT / "pyproject.toml"]
    for path in files:
        digest.update(path.relative_to(ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@pytest.fixture(scope="session")
def engine() -> None:
    try:
        connect()
    except HarnessError as exc:
        pytest.fail(f"the Docker tests need a running engine (CI: .ci/docker-setup.sh): {exc}")


@pytest.fixture(scope="session")
def agent_image(engine: None) -> str:
    tag = f"harness-agent:test-{_source_hash()}"
    with open("/tmp/harness-test-image.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not image_exists(tag):
            if not image_exists(DEFAULT_BASE):
                pytest.fail(f"base image {DEFAULT_BASE} missing: run .ci/docker-setup.sh (harness image base)")
            build(tag)
    return tag


class Fleet:
    """A fleet under test: a unique name, its runtime, and a teardown that must leave nothing."""

    def __init__(self, image: str, verify: Path | None, watch: bool = True, pids_limit: int = 256) -> None:
        self.name = f"t{uuid.uuid4().hex[:8]}"
        options = DockerOptions(image=image, verify=verify, watch=watch, watch_interval=0.5, pids_limit=pids_limit)
        self.runtime = DockerRuntime(options)
        self.roles: dict[str, int] = {}

    def up(
        self, upstream: Path, roles: dict[str, int], *command: str, memory: str = "256m", pass_env: tuple[str, ...] = ()
    ) -> None:
        self.roles = roles
        spec = FleetSpec(
            name=self.name, upstream=upstream, roles=roles, agent_args=command, memory=memory, pass_env=pass_env
        )
        self.runtime.up(spec)

    def agents(self) -> list[str]:
        return [agent for agent, _ in agent_ids(self.roles)]

    def container(self, agent: str) -> str:
        return f"harness-{self.name}-{agent}"

    def exec(
        self, agent: str, script: str, user: str = "root", timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return docker("exec", "-u", user, self.container(agent), "bash", "-c", script, check=False, timeout=timeout)

    def wait_for(self, script: str, timeout: float = 60) -> None:
        """Until ``script`` succeeds in every agent's container."""
        deadline = time.monotonic() + timeout
        for agent in self.agents():
            while self.exec(agent, script).returncode != 0:
                assert time.monotonic() < deadline, f"{agent}: `{script}` never succeeded"
                time.sleep(0.2)

    def leftovers(self) -> list[str]:
        out = docker("ps", "-a", "--filter", f"label=harness.fleet={self.name}", "--format", "{{.Names}}").stdout
        return out.split()

    def state_dir(self) -> Path:
        return fleet_dir(self.name)


@pytest.fixture
def fleet(agent_image: str, tmp_path: Path) -> Iterator[Fleet]:
    verify = tmp_path / "verify"
    verify.mkdir()
    (verify / "check.sh").write_text("#!/bin/sh\nexit 0\n")
    made = Fleet(agent_image, verify)
    yield made
    made.runtime.down(made.name, timeout=5)
