"""Bad input to the Docker fleet: one clear line, the right exit code, and no container started."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.errors import ExitCode, HarnessError, UsageError
from harness.runtime.base import FleetSpec, parse_roles
from harness.runtime.capacity import CapacityError
from harness.runtime.docker import DockerOptions, DockerRuntime, EngineUnavailable
from tests.conftest import WorkRepo, run_harness
from tests.docker_support import Fleet, agent_image, docker, engine  # noqa: F401

pytestmark = pytest.mark.docker


def up_error(image: str, upstream: Path, roles: dict[str, int], memory: str = "256m") -> HarnessError:
    fleet = Fleet(image, None, watch=False)
    with pytest.raises(HarnessError) as caught:
        fleet.up(upstream, roles, "true", memory=memory)
    assert fleet.leftovers() == [] and not (fleet.state_dir() / "state.json").exists()
    assert "\n" not in str(caught.value)
    return caught.value


def test_unknown_role(agent_image: str, work: WorkRepo) -> None:  # noqa: F811
    error = up_error(agent_image, work.upstream, {"core-dev": 1, "wizard": 2})
    assert isinstance(error, UsageError) and error.exit_code == ExitCode.USAGE
    assert "unknown role 'wizard'" in str(error) and "core-dev" in str(error)


def test_role_count_that_is_not_a_number() -> None:
    with pytest.raises(UsageError, match=r"'core-dev=x' needs a whole number"):
        parse_roles("core-dev=x")


def test_memory_the_host_cannot_give(agent_image: str, work: WorkRepo) -> None:  # noqa: F811
    error = up_error(agent_image, work.upstream, {"core-dev": 4}, memory="4096g")
    assert isinstance(error, CapacityError) and error.exit_code == ExitCode.ERROR
    assert "4 agents x 4096g = 16384g" in str(error) and "0 agent(s) of that size fit" in str(error)


def test_missing_image(engine: None, work: WorkRepo) -> None:  # noqa: F811
    error = up_error("harness-agent:no-such-tag", work.upstream, {"core-dev": 1})
    assert error.exit_code == ExitCode.ERROR
    assert str(error) == (
        "image harness-agent:no-such-tag not found on the Docker engine; build it with `harness image build`"
    )


def test_no_docker_engine(work: WorkRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    runtime = DockerRuntime(DockerOptions(watch=False))
    with pytest.raises(EngineUnavailable, match="cannot reach the Docker engine"):
        runtime.up(FleetSpec(name="nofleet", upstream=work.upstream, roles={"core-dev": 1}))
    env = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    for argv in (["image", "build"], ["peer", "core-dev-01", "--into", "critic-01"]):
        proc = run_harness(*argv, cwd=work.base, env=env)
        assert proc.returncode == ExitCode.ERROR, proc.stderr
        assert proc.stderr.startswith("error: cannot reach the Docker engine") and proc.stderr.count("\n") == 1
        assert "Traceback" not in proc.stderr


def test_image_build_without_its_base_and_with_an_unknown_cli(engine: None, tmp_path: Path) -> None:  # noqa: F811
    proc = run_harness("image", "build", "--base", "no-such-base:1", cwd=tmp_path)
    assert proc.returncode == ExitCode.ERROR
    assert (
        proc.stderr
        == "error: base image no-such-base:1 not found on the Docker engine; make it with `harness image base`\n"
    )
    proc = run_harness("image", "build", "--agent-cli", "vim", cwd=tmp_path)
    assert proc.returncode == ExitCode.USAGE and "unknown CLI 'vim'" in proc.stderr


def test_peer_with_unknown_agents(engine: None, tmp_path: Path) -> None:  # noqa: F811
    proc = run_harness("peer", "ghost", "--into", "critic-01", "--fleet", "no-such-fleet", cwd=tmp_path)
    assert proc.returncode == ExitCode.USAGE
    assert proc.stderr == "error: no agent 'ghost' in fleet no-such-fleet (agents: none)\n"


def test_pass_env_of_an_unset_variable(agent_image: str, work: WorkRepo) -> None:  # noqa: F811
    os.environ.pop("HARNESS_TEST_UNSET", None)
    fleet = Fleet(agent_image, None, watch=False)
    with pytest.raises(UsageError, match="--pass-env: HARNESS_TEST_UNSET not set"):
        fleet.up(work.upstream, {"docs": 1}, "true", pass_env=("HARNESS_TEST_UNSET",))
    assert docker("ps", "-aq", "--filter", f"label=harness.fleet={fleet.name}").stdout == ""


@pytest.mark.parametrize(
    ("roles", "env", "code", "starts"),
    [
        ("core-dev=x", {}, ExitCode.USAGE, "error: --roles: 'core-dev=x' needs a whole number"),
        ("wizard=1", {}, ExitCode.USAGE, "error: --roles: unknown role 'wizard'"),
        ("core-dev=1", {"HARNESS_IMAGE": "harness-agent:no-such-tag"}, ExitCode.ERROR, "error: image harness-agent:no"),
        ("core-dev=1", {"DOCKER_HOST": "unix:///nonexistent.sock"}, ExitCode.ERROR, "error: cannot reach the Docker"),
    ],
)
def test_harness_up_bad_input_through_the_cli(
    agent_image: str,  # noqa: F811
    work: WorkRepo,
    roles: str,
    env: dict[str, str],
    code: int,
    starts: str,
) -> None:
    env = {"HARNESS_IMAGE": agent_image, **env}
    proc = run_harness(
        "up", "--runtime", "docker", "--roles", roles, "--name", "badinput", cwd=work.first_clone, env=env
    )
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.startswith(starts) and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert docker("ps", "-aq", "--filter", "label=harness.fleet=badinput").stdout == ""


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--memory", "4096g"], "4096g"),
        (["--image", "harness-agent:no-such-tag"], "image harness-agent:no-such-tag not found"),
        (["--network", "host"], "--network"),
    ],
)
def test_harness_up_docker_flags_bad_input(agent_image: str, work: WorkRepo, flags: list[str], needle: str) -> None:  # noqa: F811
    proc = run_harness(
        "up",
        "--runtime",
        "docker",
        "--roles",
        "core-dev=2",
        "--name",
        "badflags",
        *flags,
        cwd=work.first_clone,
        env={"HARNESS_IMAGE": agent_image},
    )
    assert proc.returncode in (ExitCode.ERROR, ExitCode.USAGE), proc.stderr
    assert needle in proc.stderr and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert docker("ps", "-aq", "--filter", "label=harness.fleet=badflags").stdout == ""
