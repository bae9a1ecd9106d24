"""The agent container, from the inside, with a real engine: what an agent can and cannot do.

The containers here run a stand-in command instead of `harness loop` (the loop is proven in
test_docker_fleet.py); the plumbing under test is the same: mounts, limits, capabilities,
users, environment, labels, and `down`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.initrepo import init_work_repo
from harness.runtime import containerspec as cs
from tests.conftest import wait_until
from tests.docker_support import Fleet, agent_image, docker, engine  # noqa: F401

pytestmark = pytest.mark.docker

# Stands in for the loop: root, traps SIGTERM (as the loop does) and records that it got it.
SUPERVISOR = (
    'trap "echo term > /upstream/term-$HARNESS_AGENT; exit 0" TERM; touch /tmp/ready; while :; do sleep 0.2; done'
)
PIDS_LIMIT = 96


@pytest.fixture(scope="module")
def running(agent_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Path]]:  # noqa: F811
    base = tmp_path_factory.mktemp("fleet")
    upstream = init_work_repo(base / "work").upstream
    verify = base / "verify"
    verify.mkdir()
    (verify / "check.sh").write_text("#!/bin/sh\nexit 0\n")
    fleet = Fleet(agent_image, verify, watch=False, pids_limit=PIDS_LIMIT)
    fleet.up(upstream, {"core-dev": 2}, "bash", "-c", SUPERVISOR, pass_env=("HARNESS_TEST_PASSED",))
    yield fleet, upstream
    fleet.runtime.down(fleet.name, timeout=5)


@pytest.fixture(autouse=True, scope="module")
def _passed_var() -> Iterator[None]:
    import os

    os.environ["HARNESS_TEST_PASSED"] = "visible"
    os.environ["HARNESS_TEST_SECRET"] = "must-not-leak"
    yield
    os.environ.pop("HARNESS_TEST_PASSED")
    os.environ.pop("HARNESS_TEST_SECRET")


def test_verifier_hooks_and_upstream_config_are_read_only(running: tuple[Fleet, Path]) -> None:
    fleet, upstream = running
    for user in ("agent", "root"):
        for target in ("/verify/check.sh", "/verify/new", "/upstream/hooks/pre-receive", "/upstream/config"):
            proc = fleet.exec("core-dev-01", f"echo x >> {target}", user=user)
            assert proc.returncode != 0, f"{user} could write {target}"
            # root (who could otherwise write anything) is stopped by the read-only mount itself
            assert "Read-only file system" in proc.stderr or user == "agent", proc.stderr
    assert "x" not in (upstream / "config").read_text().splitlines()


def test_no_docker_socket_and_workspace_is_a_fresh_clone(running: tuple[Fleet, Path]) -> None:
    fleet, _ = running
    proc = fleet.exec("core-dev-01", "ls /var/run/docker.sock /run/docker.sock 2>&1; mount | grep -c docker.sock")
    assert proc.stdout.count("No such file") == 2 and proc.stdout.strip().endswith("0")
    proc = fleet.exec("core-dev-01", "git -C /workspace remote get-url origin; stat -c %U /workspace/harness.yaml")
    assert proc.stdout.split() == ["/upstream", "agent"]


def test_capabilities_dropped_no_new_privileges_and_agent_has_none(running: tuple[Fleet, Path]) -> None:
    fleet, _ = running
    status = fleet.exec("core-dev-01", "grep -E '^(CapBnd|CapEff|NoNewPrivs)' /proc/1/status").stdout
    fields = dict(line.split(":\t") for line in status.splitlines())
    kept = {"CHOWN": 0, "DAC_OVERRIDE": 1, "FOWNER": 3, "KILL": 5, "SETGID": 6, "SETUID": 7}
    assert set(cs.KEPT_CAPABILITIES) == set(kept)
    assert int(fields["CapBnd"], 16) == sum(1 << bit for bit in kept.values())
    assert fields["NoNewPrivs"].strip() == "1"
    agent = fleet.exec("core-dev-01", "grep CapEff /proc/self/status; id -u", user="agent").stdout.split()
    assert agent == ["CapEff:", "0000000000000000", "1000"]


def test_agent_killing_everything_it_can_see_does_not_stop_the_supervisor(running: tuple[Fleet, Path]) -> None:
    fleet, _ = running
    fleet.exec("core-dev-01", "kill -9 -1; sleep 1", user="agent")  # returns once its own shell is killed
    state = docker("inspect", "-f", "{{.State.Status}} {{.RestartCount}}", fleet.container("core-dev-01")).stdout
    assert state.split() == ["running", "0"]
    survivors = fleet.exec("core-dev-01", "ps -eo user,args").stdout
    assert "while :" in survivors or "bash -c trap" in survivors


def test_pids_limit_holds(running: tuple[Fleet, Path]) -> None:
    fleet, _ = running
    bomb = (
        "python3 -c 'import os, time\nn = 0\ntry:\n    while n < 1000:\n        if os.fork() == 0:\n"
        '            time.sleep(3); os._exit(0)\n        n += 1\nexcept OSError as e:\n    print("stopped", n)\''
    )
    proc = fleet.exec("core-dev-02", bomb, user="agent")
    words = proc.stdout.split()
    assert words[0] == "stopped" and int(words[1]) < PIDS_LIMIT, proc.stdout + proc.stderr
    # The children exit after 3 s and free their pids; until then an exec may fail to fork.
    wait_until(
        lambda: fleet.exec("core-dev-02", "echo alive").stdout.strip() == "alive", "the container to fork again", 120
    )


def test_memory_limit_holds(running: tuple[Fleet, Path]) -> None:
    fleet, _ = running
    hog = "python3 -c 'b = bytearray(400 * 1024 * 1024); print(len(b))'"
    proc = fleet.exec("core-dev-02", hog, user="agent")
    assert proc.returncode == 137, (proc.returncode, proc.stdout, proc.stderr)  # OOM-killed at 256m
    state = docker("inspect", "-f", "{{.State.Status}}", fleet.container("core-dev-02")).stdout.strip()
    assert state == "running"


def test_environment_is_only_what_harness_and_the_user_name(running: tuple[Fleet, Path]) -> None:
    fleet, _ = running
    envs = [dict(line.split("=", 1) for line in fleet.exec(a, "env").stdout.splitlines()) for a in fleet.agents()]
    for env, (agent, position) in zip(envs, (("core-dev-01", 0), ("core-dev-02", 1)), strict=True):
        assert env["HARNESS_AGENT"] == agent and env["HARNESS_ROLE"] == "core-dev"
        assert env["HARNESS_PORT_BASE"] == str(cs.PORT_BASE + position * cs.PORTS_PER_AGENT)
        assert env["HARNESS_TEST_PASSED"] == "visible"
        assert "HARNESS_TEST_SECRET" not in env and "HOME" in env


def test_containers_are_named_and_labelled_with_limits_and_restart_policy(running: tuple[Fleet, Path]) -> None:
    fleet, _ = running
    info = json.loads(docker("inspect", fleet.container("core-dev-02")).stdout)[0]
    labels = info["Config"]["Labels"]
    assert (labels["harness.fleet"], labels["harness.role"], labels["harness.agent"], labels["harness.index"]) == (
        fleet.name,
        "core-dev",
        "core-dev-02",
        "1",
    )
    host = info["HostConfig"]
    assert host["Memory"] == 256 * 1024**2 and host["MemorySwap"] == host["Memory"]
    assert host["PidsLimit"] == PIDS_LIMIT and host["NanoCpus"] == 10**9
    assert host["RestartPolicy"]["Name"] == "on-failure" and host["NetworkMode"] == "none"
    assert not any("docker.sock" in b for b in host["Binds"])


def test_down_sends_sigterm_first_and_leaves_nothing(agent_image: str, tmp_path: Path) -> None:  # noqa: F811
    upstream = init_work_repo(tmp_path / "w").upstream
    fleet = Fleet(agent_image, None, watch=True)
    fleet.up(upstream, {"docs": 1, "critic": 1}, "bash", "-c", SUPERVISOR)
    fleet.wait_for("test -e /tmp/ready")  # the stand-in loop has set its SIGTERM trap
    assert sorted(fleet.leftovers()) == [fleet.container("critic-01"), fleet.container("docs-01")]
    volumes_before = set(docker("volume", "ls", "-q").stdout.split())
    stopped = fleet.runtime.down(fleet.name, timeout=10)
    assert sorted((i.agent, i.state) for i in stopped) == [("critic-01", "exited"), ("docs-01", "exited")]
    assert (upstream / "term-docs-01").exists() and (upstream / "term-critic-01").exists()
    assert fleet.leftovers() == []
    assert set(docker("volume", "ls", "-q").stdout.split()) <= volumes_before
    networks = docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert sorted(networks) == ["bridge", "host", "none"]
    assert not fleet.state_dir().exists()
