"""The `harness` client as users see it: a served command looks exactly like one run
in-process (HARNESS_SERVER=0), and a command no server accepted runs in-process once."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from tests.conftest import CliServer, WorkRepo, assert_one_line_error, run_harness

COLD = {"HARNESS_SERVER": "0"}


def record_client_pids(work: WorkRepo) -> Path:
    """An upstream hook that notes, per push, the variable a served child sets: proof of
    which pushes came from a served command, and of the client pid it carried."""
    log = work.base / "client-pids.log"
    hook = work.upstream / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\ncat >/dev/null\necho \"${{HARNESS_CLIENT_PID:-cold}}\" >> '{log}'\n")
    hook.chmod(0o755)
    return log


def normalized(text: str) -> str:
    """Nonces, commit ids and ages differ between two runs; the rest must not."""
    text = re.sub(r"\b[0-9a-f]{40}\b", "<commit>", text)
    text = re.sub(r"\b[0-9a-f]{12}\b", "<nonce>", text)
    return re.sub(r"\d+ s ago", "<n> s ago", text)


def test_served_claim_matches_in_process_success_held_and_bad_id(work: WorkRepo, cli_server: CliServer) -> None:
    log = record_client_pids(work)
    cli_server.start()
    cli_server.wait_up()
    clone = work.clone("c")
    pairs = [
        (("claim", "t-served", "--agent", "a1"), ("claim", "t-cold", "--agent", "a1")),
        (("claim", "t-served", "--agent", "a2"), ("claim", "t-served", "--agent", "a3")),
        (("claim", "../x", "--agent", "a1"), ("claim", "../x", "--agent", "a1")),
    ]
    for served_args, cold_args in pairs:
        served = run_harness(*served_args, cwd=clone)
        cold = run_harness(*cold_args, cwd=clone, env=COLD)
        assert served.returncode == cold.returncode
        assert normalized(served.stdout).replace("t-served", "t") == normalized(cold.stdout).replace("t-cold", "t")
        assert normalized(served.stderr) == normalized(cold.stderr)
    assert_one_line_error(run_harness("claim", "../x", cwd=clone), 2, "task id")
    assert "held by a1" in run_harness("claim", "t-served", "--agent", "a2", cwd=clone).stderr
    pushes = log.read_text().split()
    assert pushes[0] != "cold" and pushes[1] == "cold", pushes  # served, then in-process


def test_json_output_is_identical_served_and_in_process(work: WorkRepo, cli_server: CliServer) -> None:
    clone = work.clone("c")
    for task in ("t1", "t2"):
        assert run_harness("tasks", "add", task, "--title", f"do {task}", cwd=clone, env=COLD).returncode == 0
    assert run_harness("claim", "t1", "--agent", "a1", cwd=clone, env=COLD).returncode == 0
    cli_server.start()
    cli_server.wait_up()
    for args in (("tasks", "list", "--json"), ("tasks", "next", "--json"), ("status", "--json")):
        served, cold = run_harness(*args, cwd=clone), run_harness(*args, cwd=clone, env=COLD)
        assert (served.returncode, served.stderr) == (cold.returncode, cold.stderr)
        if args[0] == "status":  # ages move with the clock
            for report in (served, cold):
                report.stdout = json.dumps(
                    [{k: v for k, v in row.items() if "age" not in k} for row in json.loads(report.stdout)["locks"]]
                )
        assert served.stdout == cold.stdout and served.stdout.strip()


def test_the_default_agent_id_carries_the_client_pid(work: WorkRepo, cli_server: CliServer) -> None:
    log = record_client_pids(work)
    cli_server.start()
    cli_server.wait_up()
    proc = subprocess.Popen([sys.executable, "-m", "harness", "claim", "t1"], cwd=work.clone("c"))
    assert proc.wait(timeout=60) == 0
    lock = work.upstream_file("current_tasks/t1.lock") or ""
    assert f"agent: {os.uname().nodename}-{proc.pid}\n" in lock
    client_pid, served_pid = log.read_text().split()[0].split(":")
    assert int(client_pid) == proc.pid and int(served_pid) != proc.pid


def test_unserved_commands_never_touch_a_server(work: WorkRepo, cli_server: CliServer) -> None:
    for args in (("--help",), (), ("loop", "--help"), ("history", "--json")):
        proc = run_harness(*args, cwd=work.first_clone)
        assert "Traceback" not in proc.stderr
    assert run_harness("status", cwd=work.first_clone, env=COLD).returncode == 0
    assert not (cli_server.runtime / "harness").exists()  # no socket folder: nothing looked for one


def test_the_first_served_command_starts_a_server_and_runs_itself(work: WorkRepo, cli_server: CliServer) -> None:
    assert run_harness("claim", "t1", "--agent", "a1", cwd=work.first_clone).returncode == 0
    cli_server.wait_up()
    assert run_harness("claim", "t2", "--agent", "a1", cwd=work.first_clone).returncode == 0
    log = work.upstream_git("log", "--format=%s", "main").splitlines()
    assert [line for line in log if line.startswith("claim")] == ["claim: t2", "claim: t1"]


def fake_server(path: str, behave: Callable[[socket.socket], None]) -> threading.Thread:
    """A peer on the socket that breaks the protocol in a chosen way, once."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def serve_once() -> None:
        with listener:
            conn, _ = listener.accept()
            with conn:
                behave(conn)

    thread = threading.Thread(target=serve_once, daemon=True)
    thread.start()
    return thread


def hang_up_before_accepting(conn: socket.socket) -> None:
    conn.recv(1 << 16)


def hang_up_after_go(conn: socket.socket) -> None:
    conn.recv(1 << 16)
    conn.sendall(b"A")
    assert conn.recv(1) == b"G"


def test_a_request_no_server_accepted_runs_in_process_once(work: WorkRepo, cli_server: CliServer) -> None:
    thread = fake_server(cli_server.path, hang_up_before_accepting)
    proc = run_harness("claim", "t1", "--agent", "a1", cwd=work.first_clone)
    thread.join(10)
    assert proc.returncode == 0, proc.stderr
    assert "claim: t1" in work.upstream_git("log", "--format=%s", "main")


def test_a_server_lost_after_go_is_an_error_not_a_second_run(work: WorkRepo, cli_server: CliServer) -> None:
    thread = fake_server(cli_server.path, hang_up_after_go)
    proc = run_harness("claim", "t1", "--agent", "a1", cwd=work.first_clone)
    thread.join(10)
    assert_one_line_error(proc, 1, "outcome is unknown")
    assert "claim: t1" not in work.upstream_git("log", "--format=%s", "main")


def test_harness_server_0_never_starts_one(work: WorkRepo, cli_server: CliServer) -> None:
    for _ in range(2):
        assert run_harness("status", cwd=work.first_clone, env=COLD).returncode == 0
    assert not (cli_server.runtime / "harness").exists()
