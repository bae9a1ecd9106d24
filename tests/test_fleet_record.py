"""A fleet as a newcomer drives it: `up` runs the backend harness.yaml names, refuses an
unknown role, and records the fleet with the work repo's upstream so `ps`, `logs`, `down`,
`history` find it from any clone, with no --name or --runtime; a fresh repo with no task does
not spin; `ps` shows the task an agent holds."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import yaml

from harness.config import known_roles, load_config
from harness.locks import records
from harness.runtime.fleetrecord import default_name, load_record
from harness.runtime.fleetstate import check_roles
from harness.runtime.fleetstate import known_roles as fleet_roles
from harness.runtime.local import LocalRuntime
from tests.conftest import WorkRepo, assert_one_line_error, commit_file, git, run_harness, wait_until
from tests.loophelpers import locks_upstream, script, write_task


def _state(tmp_path: Path) -> dict[str, str]:
    return {"XDG_STATE_HOME": str(tmp_path / "state")}


def _ps(clone: Path, env: dict[str, str]) -> list[dict[str, object]]:
    proc = run_harness("ps", "--json", cwd=clone, env=env)
    assert proc.returncode == 0, proc.stderr
    rows = yaml.safe_load(proc.stdout)
    assert isinstance(rows, list)
    return rows


def _configure(work: WorkRepo, agent: str) -> None:
    """harness.yaml's agent section on main, as `harness init` wrote it but for the backend,
    pushed as the lead (it is a protected path)."""
    clone = work.first_clone
    git(clone, "pull", "-q", "origin", "main")
    text = (clone / "harness.yaml").read_text()
    start = text.index("agent:\n")
    end = text.index("\n", text.index("backend:", start)) + 1
    commit_file(clone, "harness.yaml", text[:start] + agent + text[end:], "configure")
    pushed = subprocess.run(
        ["git", "push", "-q", "origin", "HEAD:main"], cwd=clone, capture_output=True, text=True,
        env={**os.environ, "HARNESS_ROLE": "lead"}, check=False,
    )  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr


def test_up_runs_the_backend_harness_yaml_names(work: WorkRepo, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    agent = script(tmp_path, "agent.sh", f'echo "$HARNESS_AGENT" >> {marker}\nexit 0\n')
    _configure(work, f"agent:\n  backend: command\n  command: {agent} {{prompt_file}}\n")
    write_task(work.workspace("seed"), "t1", "x.txt", "x")
    env = _state(tmp_path)
    clone = work.clone("person")
    up = run_harness("up", "--roles", "core-dev=1", cwd=clone, env=env)
    try:
        assert up.returncode == 0, up.stderr
        assert "backend command (agent.backend in harness.yaml)" in up.stdout
        wait_until(marker.exists, "the configured command agent to run")
    finally:
        down = run_harness("down", cwd=clone, env=env)
    assert down.returncode == 0, down.stderr
    log = "\n".join(LocalRuntime(root=tmp_path / "state" / "harness" / "local").logs(default_name(work.upstream),
                                                                                       "core-dev-01"))  # fmt: skip
    assert "backend command" in log and "backend builtin" not in log
    assert marker.read_text().split() and "scripted" not in log


def test_an_unknown_role_starts_no_loop(work: WorkRepo, tmp_path: Path) -> None:
    write_task(work.workspace("seed"), "t1", "x.txt", "x")
    env = _state(tmp_path)
    proc = run_harness("up", "--roles", "core-dve=2", "--backend", "builtin", cwd=work.first_clone, env=env)
    assert_one_line_error(proc, 2, "--roles: unknown role 'core-dve'", "core-dev")
    assert not (tmp_path / "state" / "harness" / "local").exists() or not any(
        (tmp_path / "state" / "harness" / "local").rglob("loop.log")
    )
    assert locks_upstream(work) == []


def test_every_command_finds_the_fleet_from_any_clone(work: WorkRepo, tmp_path: Path) -> None:
    ws = work.workspace("seed")
    for i in range(2):
        write_task(ws, f"t{i}", f"f{i}.txt", "x")
    slow = script(tmp_path, "slow.sh", "sleep 123.4\n")
    env = _state(tmp_path)
    starter, other = work.clone("starter"), work.clone("other")
    up = run_harness("up", "--roles", "core-dev=2", "--backend", "command", f"--loop-arg=--agent-cmd={slow}",
                     cwd=starter, env=env)  # fmt: skip
    assert up.returncode == 0, up.stderr
    record = load_record(work.upstream)
    assert record is not None and record.runtime == "local" and record.name == default_name(work.upstream)
    assert record.name.startswith("work-") and record.name in up.stdout
    try:
        # The task each agent holds, as `ps` from another clone shows it, matches the locks.
        def both_hold() -> bool:
            return all(row["task"] for row in _ps(other, env))

        wait_until(both_hold, "both agents to hold a task")
        rows = _ps(other, env)
        held = {lock.removesuffix(".lock").removeprefix("current_tasks/") for lock in locks_upstream(work)}
        assert {str(row["task"]) for row in rows} == held and len(held) == 2
        logs = run_harness("logs", "core-dev-02", cwd=other, env=env)
        assert logs.returncode == 0 and "loop: agent core-dev-02" in logs.stdout
        again = run_harness("up", "--roles", "core-dev=1", "--backend", "builtin", cwd=other, env=env)
        assert_one_line_error(again, 1, "already runs 2 agent(s)", "harness down")
    finally:
        down = run_harness("down", "--timeout", "30", cwd=other, env=env)
    assert down.returncode == 0 and f"stopped 2 of 2 agent(s) of fleet {record.name}" in down.stdout, down.stderr
    assert locks_upstream(work) == []


def test_fleets_are_named_per_work_repo(tmp_path: Path) -> None:
    names = {default_name(tmp_path / "a" / "proj-upstream.git"), default_name(tmp_path / "b" / "proj-upstream.git")}
    assert len(names) == 2 and all(n.startswith("proj-") for n in names)
    assert default_name(tmp_path / "My Repo.git").startswith("my-repo-")


def test_commands_outside_a_work_repo_say_what_to_do(tmp_path: Path) -> None:
    proc = run_harness("down", cwd=tmp_path, env=_state(tmp_path))
    assert_one_line_error(proc, 2, "not a clone of a work repo", "--repo CLONE")


def test_a_work_repo_without_a_fleet_says_how_to_start_one(work: WorkRepo, tmp_path: Path) -> None:
    proc = run_harness("ps", cwd=work.first_clone, env=_state(tmp_path))
    assert_one_line_error(proc, 1, "no fleet recorded for", "harness up --roles")


def test_a_fresh_repo_with_no_task_does_not_spin(work: WorkRepo, tmp_path: Path) -> None:
    env = _state(tmp_path)
    clone = work.first_clone
    up = run_harness("up", "--roles", "core-dev=2", "--backend", "builtin", cwd=clone, env=env)
    assert up.returncode == 0, up.stderr
    try:
        runtime = LocalRuntime(root=tmp_path / "state" / "harness" / "local")
        name = default_name(work.upstream)

        def both_say_so() -> bool:
            return all("no task specs at upstream main yet" in "\n".join(runtime.logs(name, a))
                       for a in ("core-dev-01", "core-dev-02"))  # fmt: skip

        wait_until(both_say_so, "both loops to say there is no task")
        log = "\n".join(runtime.logs(name, "core-dev-01"))
        assert "harness tasks add ID --title TEXT" in log and "iteration 1:" not in log
        assert [row["iteration"] for row in _ps(clone, env)] == [0, 0]
        # A task added now is taken without waiting out the backoff: the loops watch main.
        write_task(work.workspace("seed"), "t1", "x.txt", "x")
        wait_until(lambda: "status: done" in (work.upstream_file("tasks/t1.yaml") or ""), "t1 to be done")
    finally:
        run_harness("down", cwd=clone, env=env)


def test_ps_shows_the_held_claim_not_a_pending_one(tmp_path: Path) -> None:
    """An agent with a claim in flight (pending, alphabetically first) and one it holds."""
    home = tmp_path / "fleet" / "core-dev-01"
    state_dir = home / "clone" / ".git" / "harness"
    records.write_record(state_dir, records.ClaimRecord("aaa", "core-dev-01", "n1", records.ClaimState.PENDING))
    records.write_record(state_dir, records.ClaimRecord("zzz", "core-dev-01", "n2", records.ClaimState.HELD))
    sleeper = subprocess.Popen(["sleep", "300.5"])
    try:
        agent = {"agent": "core-dev-01", "role": "core-dev", "pid": sleeper.pid, "started_at": time.time(),
                 "clone": str(home / "clone"), "log": str(home / "loop.log"), "events": str(home / "events.jsonl"),
                 "stop": str(home / "stop")}  # fmt: skip
        (tmp_path / "fleet" / "fleet.json").write_text(json.dumps({"fleet": "f", "upstream": "", "agents": [agent]}))
        (info,) = LocalRuntime(directory=tmp_path / "fleet").ps("f")
        assert info.state == "running" and info.task == "zzz"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_down_leaves_no_lock_held_by_a_loop_whose_agent_cannot_start(work: WorkRepo, tmp_path: Path) -> None:
    """The claude CLI missing, say: the session cannot start, the loop waits to retry, holding
    its claim meanwhile; `down` must not leave that lock behind for its lease."""
    write_task(work.workspace("seed"), "t1", "x.txt", "x")
    env = _state(tmp_path)
    missing = tmp_path / "no-such-agent"
    agent_cmd = f"--loop-arg=--agent-cmd={missing} {{task}}"
    up = run_harness("up", "--roles", "core-dev=1", "--backend", "command", agent_cmd, cwd=work.first_clone, env=env)
    assert up.returncode == 0, up.stderr
    fleet = LocalRuntime(root=tmp_path / "state" / "harness" / "local").fleet_dir(default_name(work.upstream))
    log = fleet / "core-dev-01" / "loop.log"
    try:
        wait_until(lambda: "cannot start the agent" in log.read_text(), "the failed start")
        assert locks_upstream(work) == ["current_tasks/t1.lock"]
    finally:
        down = run_harness("down", cwd=work.first_clone, env=env)
    assert down.returncode == 0, down.stderr
    assert locks_upstream(work) == []


def test_up_accepts_the_roles_a_loop_accepts(work: WorkRepo) -> None:
    """harness.yaml naming its own roles does not make the default ones unknown to `up`, since
    `harness loop --role core-dev` accepts them: both sides use one rule."""
    clone = work.first_clone
    (clone / "prompts").mkdir(exist_ok=True)
    for prompt in (clone / "prompts").glob("*.md"):  # the default roles' prompts are the harness's own
        prompt.unlink()
    (clone / "prompts" / "reviewer.md").write_text("review\n")
    config = (clone / "harness.yaml").read_text() + "roles:\n  backend:\n    description: server code\n"
    (clone / "harness.yaml").write_text(config)
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "roles of our own")
    pushed = subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=clone, capture_output=True, text=True,
                            env={**os.environ, "HARNESS_ROLE": "lead"}, check=False)  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    loop_roles = known_roles(load_config(clone), clone / "prompts")
    assert fleet_roles(work.upstream) == loop_roles >= {"backend", "reviewer", "core-dev"}
    check_roles(work.upstream, ["backend", "reviewer", "core-dev"])  # raises for an unknown one
