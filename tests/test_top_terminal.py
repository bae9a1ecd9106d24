"""`harness top` in a real terminal (tmux) on a live local fleet, as a person runs it.

Two local loops work through four quick tasks, then each holds a slow one. `harness top`,
started in a tmux pane from a clone with no options at all, must find the fleet through its
record on the upstream and show each agent running, the task it holds, its iterations and
its last outcome; ^C must end it. The pane is read with `tmux capture-pane`, keys go in with
`tmux send-keys`: what a person would see and type.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.runtime.fleetrecord import default_name
from tests.conftest import WorkRepo, run_harness, wait_until
from tests.loophelpers import script, write_task


def _tmux() -> str:
    found = shutil.which("tmux")
    if found is None:
        pytest.fail("tmux is needed for this test: apt-get install -y tmux (.ci/machine-setup.sh does)")
    return found


class Pane:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([_tmux(), "-L", self.socket, *args], capture_output=True, text=True, check=check)

    def text(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "top").stdout

    def alive(self) -> bool:
        return self.tmux("has-session", "-t", "top", check=False).returncode == 0


@pytest.fixture
def pane() -> Iterator[Pane]:
    made = Pane(f"harness-test-{uuid.uuid4().hex[:8]}")
    yield made
    made.tmux("kill-server", check=False)


def _rows(text: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in text.splitlines() if line.startswith("core-dev-")}


def test_top_shows_a_live_local_fleet_in_a_terminal(work: WorkRepo, tmp_path: Path, pane: Pane) -> None:
    ws = work.workspace("seed")
    for i in range(4):
        write_task(ws, f"t{i}", f"f{i}.txt", "x")
    for i in (4, 5):
        write_task(ws, f"t{i}", f"f{i}.txt", "x", priority=-1)  # taken last, and held
    agent = script(tmp_path, "agent.sh", 'case "$1" in t4|t5) sleep 300.9 ;;\n'
                   '*) echo "$1" > "$1.txt"; git add "$1.txt"; git commit -qm "$1" ;; esac\n')  # fmt: skip
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    clone = work.clone("person")
    up = run_harness("up", "--roles", "core-dev=2", "--backend", "command", f"--loop-arg=--agent-cmd={agent} {{task}}",
                     cwd=clone, env=env)  # fmt: skip
    assert up.returncode == 0, up.stderr
    try:
        keep = ("HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM", "PATH")
        exports = " ".join(f"{k}={shlex.quote(os.environ[k])}" for k in keep if k in os.environ)
        command = (
            f"cd {shlex.quote(str(clone))} && env {exports} {shlex.quote(sys.executable)} -m harness top --interval 1"
        )
        pane.tmux("new-session", "-d", "-s", "top", "-x", "150", "-y", "30", command)

        def settled() -> bool:
            rows = _rows(pane.text())
            return len(rows) == 2 and all(r[2] == "running" and r[3] in ("t4", "t5") for r in rows.values())

        wait_until(settled, "top to show both agents running and holding their slow task", timeout=180)
        screen = pane.text()
        assert f"harness top — {default_name(work.upstream)}" in screen
        assert "2 agents, 2 locks (0 stale)" in screen
        assert screen.count("AGENT") == 1  # one frame, redrawn in place, not frames appended
        rows = _rows(screen)
        assert {rows[a][3] for a in rows} == {"t4", "t5"}
        assert sum(int(r[6]) for r in rows.values()) == 4, screen  # the four quick tasks, between them
        assert all((r[7] == "done") == (int(r[6]) > 0) for r in rows.values()), screen
        pane.tmux("send-keys", "-t", "top", "C-c")
        wait_until(lambda: not pane.alive(), "top to exit on ^C")
    finally:
        down = run_harness("down", cwd=clone, env=env)
        assert down.returncode == 0, down.stderr
