"""The one runner of non-git children (runtime/process.py), on real processes: a timeout is a
result, the whole group dies (SIGTERM first, SIGKILL after the grace), nothing is left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.runtime import process
from tests.conftest import wait_until
from tests.prochelpers import live_processes


def _marker(tag: str) -> str:
    """A sleep command line no other test runs, to find its processes in /proc."""
    return f"sleep {800000 + (os.getpid() * 7 + len(tag)) % 90000}.{len(tag)}"


def test_a_timeout_is_a_result_and_the_whole_group_dies(tmp_path: Path) -> None:
    sleeper = _marker("timeout")
    # The shell and its background child both ignore SIGTERM: only the group's SIGKILL ends them.
    done = process.run(f"trap '' TERM; echo started; {sleeper} & {sleeper}", tmp_path, timeout=0.5, grace=0.2)
    assert done.timed_out and done.returncode is None
    assert done.output == "started\n"
    assert process.describe_exit(done.returncode, 0.5) == "timed out after 0.5 s"
    gone(sleeper)


def test_sigterm_comes_first_so_a_child_can_clean_up(tmp_path: Path) -> None:
    done = process.run(f"trap 'echo cleaning up; exit 3' TERM; {_marker('term')} & wait", tmp_path, 0.5, grace=60)
    assert done.timed_out
    assert done.output == "cleaning up\n"  # it got SIGTERM, not SIGKILL


def test_a_background_child_neither_holds_the_run_open_nor_outlives_it(tmp_path: Path) -> None:
    sleeper = _marker("background")
    # With a pipe, the run would last until the sleeper closed its copy of the pipe.
    done = process.run(f"{sleeper} & echo done", tmp_path, timeout=120)
    assert (done.returncode, done.output) == (0, "done\n")
    gone(sleeper)


def test_a_signal_is_named(tmp_path: Path) -> None:
    done = process.run("kill -SEGV $$", tmp_path, timeout=60)
    assert process.describe_exit(done.returncode, 60) == "killed by SIGSEGV"
    assert process.signal_name(15) == "SIGTERM" and process.signal_name(99) == "signal 99"
    assert process.describe_exit(2, 60) == "exit 2"


def test_children_get_no_git_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_DIR", "/somewhere/else")  # as inside a git hook
    monkeypatch.setenv("KEEP_ME", "yes")
    done = process.run("echo ${GIT_DIR:-none} $KEEP_ME", tmp_path, timeout=60)
    assert done.output == "none yes\n"


def test_output_to_a_named_log_is_appended_and_only_the_new_part_returned(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text("earlier\n")
    done = process.run("echo now; echo oops >&2", tmp_path, timeout=60, output=log)
    assert done.output == "now\noops\n"
    assert log.read_text() == "earlier\nnow\noops\n"


def test_a_program_that_cannot_start_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        process.run([str(tmp_path / "no-such-program")], tmp_path, timeout=60)


def test_a_started_child_reads_its_stdin_and_waits_with_a_timeout(tmp_path: Path) -> None:
    child = process.start(["sh", "-c", "read line; echo got $line"], tmp_path, stdin_pipe=True)
    assert not child.wait(0.01)  # still waiting for its input
    child.send(b"hello\n")
    done = child.finish(timeout=120)
    assert (done.returncode, done.output) == (0, "got hello\n")


def gone(sleeper: str) -> None:
    """A SIGKILLed process dies when it is next scheduled, not the moment the signal is sent."""
    wait_until(lambda: not live_processes(marker=sleeper), f"no `{sleeper}` left running", timeout=30)
