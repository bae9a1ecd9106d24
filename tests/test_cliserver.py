"""The fork server: one per install and sources, races through it keep invariant 1, a
killed client takes its command down with it, and it leaves when idle."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness import cliserver
from tests.conftest import ROOT, CliServer, WorkRepo, run_harness

RACERS = 16


def install_hook(work: WorkRepo, body: str) -> None:
    hook = work.upstream / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\ncat >/dev/null\n{body}\n")
    hook.chmod(0o755)


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except FileNotFoundError:
        return True


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def lock_is_free(path: str) -> bool:
    fd = os.open(path + ".lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_racing_clients_through_one_server_win_once(work: WorkRepo, cli_server: CliServer) -> None:
    log = work.base / "pushes.log"
    install_hook(work, f"echo \"${{HARNESS_CLIENT_PID:-cold}}\" >> '{log}'")
    clones = [work.clone(f"c{i}") for i in range(RACERS)]
    cli_server.start()
    server_pid = cli_server.wait_up()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "harness", "claim", "same-task", "--agent", f"a{i}"],
            cwd=clone,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, clone in enumerate(clones)
    ]
    codes = sorted(p.wait(timeout=300) for p in procs)
    assert codes == [0] + [3] * (RACERS - 1), [p.communicate() for p in procs]
    assert "cold" not in log.read_text().split()  # every push came from a served child
    added = work.upstream_git("log", "--format=%H", "--diff-filter=A", "main", "--", "current_tasks/same-task.lock")
    assert len(added.split()) == 1
    assert cli_server.pid() == server_pid


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGINT, 130)])
def test_killing_the_client_kills_the_served_command_and_its_git(
    work: WorkRepo, cli_server: CliServer, sig: signal.Signals, code: int
) -> None:
    marker, pids = work.base / "hook.started", work.base / "hook.pids"
    install_hook(work, f"echo \"$$ $HARNESS_CLIENT_PID\" > '{pids}'\ntouch '{marker}'\nexec sleep 43")
    cli_server.start()
    cli_server.wait_up()
    clone = work.clone("victim")
    client = subprocess.Popen(
        [sys.executable, "-m", "harness", "claim", "hot", "--agent", "victim"], cwd=clone, stderr=subprocess.PIPE
    )
    wait_for(marker.exists, "the served claim never reached the push", timeout=60)
    hook_pid, client_and_child = pids.read_text().split()
    served_child = int(client_and_child.split(":")[1])
    client.send_signal(sig)
    assert client.wait(timeout=30) == code
    assert client.stderr is not None
    assert client.stderr.read() == (b"interrupted\n" if sig == signal.SIGINT else b"")
    wait_for(lambda: gone(int(hook_pid)) and gone(served_child), "the served claim outlived its client", 15)
    assert work.upstream_file("current_tasks/hot.lock") is None
    (work.upstream / "hooks" / "pre-receive").unlink()
    status = run_harness("status", cwd=clone)
    assert "interrupted claim of hot did not land" in status.stdout, status.stdout
    assert run_harness("claim", "hot", "--agent", "victim", cwd=clone).returncode == 0


def test_a_served_command_killed_by_a_signal_exits_128_plus_it(work: WorkRepo, cli_server: CliServer) -> None:
    marker, pids = work.base / "hook.started", work.base / "hook.pids"
    install_hook(work, f"echo \"$HARNESS_CLIENT_PID\" > '{pids}'\ntouch '{marker}'\nexec sleep 47")
    cli_server.start()
    cli_server.wait_up()
    client = subprocess.Popen([sys.executable, "-m", "harness", "claim", "t1", "--agent", "a1"], cwd=work.clone("c"))
    wait_for(marker.exists, "the served claim never reached the push", timeout=60)
    os.killpg(int(pids.read_text().split(":")[1]), signal.SIGKILL)  # its own group: git and the hook too
    assert client.wait(timeout=30) == 128 + signal.SIGKILL


def test_racing_server_starts_leave_one_server(cli_server: CliServer) -> None:
    starters = [cli_server.start() for _ in range(6)]
    survivor = cli_server.wait_up()
    time.sleep(1)
    alive = [p.pid for p in starters if p.poll() is None]
    assert alive == [survivor]
    assert all(p.returncode == 0 for p in starters if p.pid != survivor)


def package_copy_socket(parent: Path) -> str:
    """The socket path a client of the harness package copied under ``parent`` uses."""
    code = "import harness.client as c; assert c.__file__.startswith(c.sys.argv[1]); print(c.socket_path())"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(parent)], cwd=parent, capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def test_an_edited_or_moved_package_gets_another_server(tmp_path: Path, cli_server: CliServer) -> None:
    first = tmp_path / "a"
    shutil.copytree(ROOT / "harness", first / "harness", ignore=shutil.ignore_patterns("__pycache__"))
    original = package_copy_socket(first)
    assert original != cli_server.path and original.startswith(str(cli_server.runtime))
    assert package_copy_socket(first) == original
    edited = first / "harness" / "runtime" / "base.py"
    os.utime(edited, ns=(time.time_ns(), time.time_ns() + 10**9))
    after_edit = package_copy_socket(first)
    assert after_edit != original
    first.rename(tmp_path / "b")
    assert package_copy_socket(tmp_path / "b") not in (original, after_edit)
    # A server asked to serve a socket that is not its own key refuses, before binding.
    refused = subprocess.run([sys.executable, "-m", "harness.cliserver", original], cwd=ROOT, timeout=60, check=False)
    assert refused.returncode == 2 and not Path(original).exists()


def test_an_idle_server_leaves_and_removes_its_socket(monkeypatch: pytest.MonkeyPatch, cli_server: CliServer) -> None:
    monkeypatch.setenv("HARNESS_SERVER_IDLE", "1")
    cli_server.start()
    cli_server.wait_up()
    wait_for(lambda: not Path(cli_server.path).exists(), "the idle server kept its socket", 30)
    wait_for(lambda: lock_is_free(cli_server.path), "the idle server kept running", 10)


def test_sigterm_lets_running_commands_finish(work: WorkRepo, cli_server: CliServer) -> None:
    marker = work.base / "hook.started"
    release = work.base / "hook.release"
    install_hook(work, f"touch '{marker}'\nwhile [ ! -e '{release}' ]; do sleep 0.05; done")
    cli_server.start()
    cli_server.wait_up()
    client = subprocess.Popen([sys.executable, "-m", "harness", "claim", "t1", "--agent", "a1"], cwd=work.clone("c"))
    wait_for(marker.exists, "the served claim never reached the push", timeout=60)
    path = cli_server.path
    assert cliserver.stop(path, timeout=0.5) is True  # signalled; still running its command
    wait_for(lambda: not Path(path).exists(), "the server kept listening after SIGTERM")
    assert not lock_is_free(path)
    release.touch()
    assert client.wait(timeout=60) == 0
    wait_for(lambda: lock_is_free(path), "the server did not leave after its last command")


def test_a_stale_socket_file_is_replaced(work: WorkRepo, cli_server: CliServer) -> None:
    path = cli_server.path
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(path)  # bound, never listening: connect is refused
    assert run_harness("status", cwd=work.first_clone).returncode == 0  # in-process, and starts a server
    cli_server.wait_up()
    assert run_harness("status", cwd=work.first_clone).returncode == 0
