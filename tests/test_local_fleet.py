"""The local-process fleet: `harness up --runtime local`, `ps`, `logs`, `down`, for real."""

from __future__ import annotations

import os
import time
from pathlib import Path

import yaml

from harness.runtime.base import FleetSpec
from harness.runtime.local import LocalRuntime
from tests.conftest import WorkRepo, run_harness
from tests.loophelpers import locks_upstream, script, write_task


def _wait(runtime: LocalRuntime, fleet: str, state: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(info.state == state for info in runtime.ps(fleet)):
            return
        time.sleep(0.1)
    raise AssertionError(f"fleet {fleet} not all {state}: {runtime.ps(fleet)}")


def test_a_local_fleet_drains_the_queue_each_agent_in_its_own_clone(work: WorkRepo, tmp_path: Path) -> None:
    ws = work.workspace("seed")
    for i in range(4):
        write_task(ws, f"t{i}", f"f{i}.txt", f"task {i}")
    runtime = LocalRuntime(root=tmp_path / "state")
    spec = FleetSpec(
        name="f1",
        upstream=work.upstream,
        roles={"core-dev": 2},
        backend="builtin",
        agent_args=("--exit-when-idle", "--idle-backoff", "0.1"),
    )
    infos = runtime.up(spec)
    assert [(i.agent, i.role) for i in infos] == [("core-dev-01", "core-dev"), ("core-dev-02", "core-dev")]
    clones = {Path(i.extra["clone"]) for i in infos}
    assert len(clones) == 2 and all((c / ".git").is_dir() for c in clones)
    _wait(runtime, "f1", "exited")
    for i in range(4):
        assert yaml.safe_load(work.upstream_file(f"tasks/t{i}.yaml") or "")["status"] == "done"
    assert locks_upstream(work) == []
    infos = runtime.ps("f1")
    assert sum(int(i.extra["done"]) for i in infos) == 4
    log = "\n".join(runtime.logs("f1", "core-dev-01"))
    assert "loop: agent core-dev-01" in log and "loop stopped: no open task left" in log


def test_down_stops_every_loop_and_hands_the_locks_back(work: WorkRepo, tmp_path: Path) -> None:
    ws = work.workspace("seed")
    for i in range(3):
        write_task(ws, f"t{i}", f"f{i}.txt", "x")
    slow = script(tmp_path, "slow.sh", "sleep 122.9\n")
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    up = run_harness(
        "up", "--roles", "core-dev=2", "--name", "f2", "--upstream", str(work.upstream),
        "--backend", "command", f"--loop-arg=--agent-cmd={slow}", cwd=tmp_path, env=env,
    )  # fmt: skip
    assert up.returncode == 0, up.stderr
    assert "core-dev-01" in up.stdout and "core-dev-02" in up.stdout
    deadline = time.monotonic() + 60
    while len(locks_upstream(work)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(locks_upstream(work)) == 2
    # A loop records its task just after its claim lands upstream: poll ps as a user would.
    rows = []
    while time.monotonic() < deadline:
        rows = yaml.safe_load(run_harness("ps", "--name", "f2", "--json", cwd=tmp_path, env=env).stdout)
        if all(r["task"] for r in rows):
            break
        time.sleep(0.1)
    assert [r["state"] for r in rows] == ["running", "running"] and all(r["task"] for r in rows)
    down = run_harness("down", "--name", "f2", "--timeout", "30", cwd=tmp_path, env=env)
    assert down.returncode == 0 and "stopped 2 of 2" in down.stdout, down.stdout + down.stderr
    assert locks_upstream(work) == []
    rows = yaml.safe_load(run_harness("ps", "--name", "f2", "--json", cwd=tmp_path, env=env).stdout)
    assert [r["state"] for r in rows] == ["exited", "exited"]


def test_ps_of_an_unknown_fleet_is_a_one_line_error(tmp_path: Path) -> None:
    proc = run_harness("ps", "--name", "nope", cwd=tmp_path, env={"XDG_STATE_HOME": str(tmp_path)})
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "no local fleet named 'nope'" in proc.stderr


def test_agent_cmd_with_another_backend_is_a_usage_error(work: WorkRepo) -> None:
    proc = run_harness("loop", "--role", "core-dev", "--backend", "builtin", "--agent-cmd", "x {prompt_file}",
                       cwd=work.first_clone)  # fmt: skip
    assert proc.returncode == 2 and "--agent-cmd runs the command backend" in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_each_loop_is_forked_into_its_own_session_clone_environment_and_log(work: WorkRepo, tmp_path: Path) -> None:
    """The loops come from one launcher that imported the loop once (launcher.py); each must
    still look like a loop started on its own: session leader (so `down` can signal its
    group), its clone as working directory, its own HARNESS_AGENT and no other HARNESS_*
    variable of the caller, stdin from /dev/null and its output in its log."""
    ws = work.workspace("seed")
    for i in range(2):
        write_task(ws, f"t{i}", f"f{i}.txt", "x")
    slow = script(tmp_path, "slow.sh", f'env > "{tmp_path}/$HARNESS_AGENT.env"\nsleep 121.7\n')
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "HARNESS_LEAK": "from-the-caller"}
    up = run_harness(
        "up", "--roles", "core-dev=2", "--name", "f3", "--upstream", str(work.upstream),
        "--backend", "command", f"--loop-arg=--agent-cmd={slow}", cwd=tmp_path, env=env,
    )  # fmt: skip
    assert up.returncode == 0, up.stderr
    rows = yaml.safe_load(run_harness("ps", "--name", "f3", "--json", cwd=tmp_path, env=env).stdout)
    try:
        pids = {row["agent"]: int(row["handle"]) for row in rows}
        assert len(set(pids.values())) == 2
        fleet = tmp_path / "state" / "harness" / "local" / "f3"
        for agent, pid in pids.items():
            assert os.getsid(pid) == pid
            assert Path(f"/proc/{pid}/cwd").resolve() == (fleet / agent / "clone").resolve()
            assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"
            log = (fleet / agent / "loop.log").resolve()
            assert Path(os.readlink(f"/proc/{pid}/fd/1")) == log == Path(os.readlink(f"/proc/{pid}/fd/2"))
        # The environment is the loop's own (a forked child's /proc/PID/environ still shows
        # the launcher's), so look at what its session inherited.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all((tmp_path / f"{a}.env").exists() for a in pids):
            time.sleep(0.1)
        for agent in pids:
            environ = (tmp_path / f"{agent}.env").read_text().splitlines()
            assert f"HARNESS_AGENT={agent}" in environ and not any(e.startswith("HARNESS_LEAK=") for e in environ)
            assert f"loop: agent {agent}, role core-dev" in (fleet / agent / "loop.log").read_text()
    finally:
        down = run_harness("down", "--name", "f3", "--timeout", "30", cwd=tmp_path, env=env)
    assert down.returncode == 0 and "stopped 2 of 2" in down.stdout, down.stdout + down.stderr
    assert locks_upstream(work) == []
