"""Every child process harness starts, except git (git/repo.py): one runner.

A child starts in its own session and process group (``start_new_session``), so its
process group id is its pid and one ``killpg`` reaches everything it started that did
not leave the group on purpose. Its output goes to a file (a log the caller names, or a
temporary file read back): a file never fills up and blocks the child the way a pipe
nobody reads does, and the wait ends when the child exits, not when the last background
grandchild closes its copy of a pipe.

How a child dies: past its timeout (or when its caller stops it) its group gets SIGTERM,
the child ``grace`` seconds to go, then SIGKILL; after every child the group gets SIGKILL
again, so nothing it left in the background outlives it. A timeout is a result
(``Finished.timed_out``), never an exception: ``subprocess.TimeoutExpired`` does not leave
this module, and each caller turns a timeout into its own clear error or outcome.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

GRACE_SECONDS = 2.0  # SIGTERM → SIGKILL for a child past its timeout, unless the caller says otherwise


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment minus GIT_*: a hook's GIT_DIR or GIT_INDEX_FILE must not
    send a test run, a regenerate command or an agent's git to another repository."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class Finished:
    returncode: int | None  # None: killed after the timeout; negative: killed by that signal
    output: str  # stdout and stderr together
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    def last_line(self, limit: int = 160) -> str:
        lines = [line.strip() for line in self.output.splitlines() if line.strip()]
        return lines[-1][:limit] if lines else ""


class Child:
    """A started child: wait for it, stop its group, read what it wrote."""

    def __init__(self, popen: subprocess.Popen[bytes], output: IO[bytes] | None, offset: int) -> None:
        self._popen = popen
        self._output = output
        self._offset = offset
        self._pidfd: int | None = None
        self._started = time.monotonic()

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        return self._popen.poll()

    def wait(self, timeout: float | None) -> bool:
        """True once the child has exited; False if it still runs after ``timeout`` seconds.

        A pidfd (Linux 5.3+) becomes readable the moment the child exits; ``Popen.wait(timeout)``
        polls in sleeps of up to 50 ms, which the fleet benchmark saw as ~25 ms added to every
        session. Without a pidfd the polling is still correct, only coarser.
        """
        if timeout is None:
            self._popen.wait()
            return True
        if self._popen.poll() is not None:
            return True
        pidfd = self._open_pidfd()
        if pidfd is not None and not select.select([pidfd], [], [], max(0.0, timeout))[0]:
            return False
        try:
            self._popen.wait(timeout=0 if pidfd is not None else max(0.0, timeout))
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self, grace: float = GRACE_SECONDS) -> None:
        """SIGTERM the group, give the child ``grace`` seconds, then SIGKILL the group."""
        if self._popen.poll() is not None:
            return
        if grace > 0:
            signal_group(self.pid, signal.SIGTERM)
            if self.wait(grace):
                return
        signal_group(self.pid, signal.SIGKILL)
        self._popen.wait()

    def kill_leftovers(self) -> None:
        """Whatever the child left running in its group goes too (after it exited)."""
        signal_group(self.pid, signal.SIGKILL)

    def send(self, data: bytes) -> None:
        """Write ``data`` to a child started with ``stdin_pipe=True`` and close its stdin."""
        stdin = self._popen.stdin
        assert stdin is not None, "started without stdin_pipe"
        with contextlib.suppress(BrokenPipeError):  # it exited early: finish() says how
            stdin.write(data)
        with contextlib.suppress(BrokenPipeError):
            stdin.close()

    def finish(self, timeout: float | None, grace: float = GRACE_SECONDS, leftovers: bool = True) -> Finished:
        """Wait up to ``timeout`` seconds, stop the group if the child is still running,
        kill what it left behind (unless ``leftovers`` is False), and read its output."""
        exited = self.wait(timeout)
        if not exited:
            self.stop(grace)
        if leftovers:
            self.kill_leftovers()
        code = self._popen.returncode if exited else None
        return Finished(code, self._read_output(), time.monotonic() - self._started)

    def detach(self) -> int:
        """Let the child run on unwatched (a daemon); its pid."""
        self.close()
        return self.pid

    def close(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        if self._output is not None:
            self._output.close()
            self._output = None
        if self._popen.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self._popen.stdin.close()

    def _open_pidfd(self) -> int | None:
        if self._pidfd is None:
            with contextlib.suppress(AttributeError, OSError):
                self._pidfd = os.pidfd_open(self.pid)
        return self._pidfd

    def _read_output(self) -> str:
        handle = self._output
        text = ""
        if handle is not None:
            handle.seek(self._offset)
            text = handle.read().decode(errors="replace")
        self.close()
        return text


def start(
    argv: str | Sequence[str],
    cwd: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    output: Path | None = None,
    stdin: Path | None = None,
    stdin_pipe: bool = False,
    user: tuple[int, int] | None = None,
    umask: int = -1,
    pass_fds: Sequence[int] = (),
) -> Child:
    """Start ``argv`` (a string runs through the shell) in its own session.

    Output is appended to ``output`` (a temporary file when None); stdin is ``stdin``, a pipe
    for ``Child.send``, or /dev/null; ``user`` is a (uid, gid) to run as (the caller must be
    root), without supplementary groups; ``pass_fds`` stay open in the child (the gate's
    sandbox hands its init a status descriptor). ``env`` defaults to ``child_env()``. An OSError
    (no such program, no such directory) propagates: the caller names what failed to start.
    """
    out: IO[bytes] = open(output, "a+b") if output is not None else tempfile.TemporaryFile()  # noqa: SIM115
    offset = out.tell()  # before the child starts: what it writes begins here
    try:
        with open(stdin or os.devnull, "rb") as stdin_file:
            popen = subprocess.Popen(
                argv,
                shell=isinstance(argv, str),
                cwd=cwd,
                env=dict(env) if env is not None else child_env(),
                stdin=subprocess.PIPE if stdin_pipe else stdin_file,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=user[0] if user else None,
                group=user[1] if user else None,
                extra_groups=[] if user else None,
                umask=umask,
                pass_fds=tuple(pass_fds),
            )
    except BaseException:
        out.close()
        raise
    return Child(popen, out, offset)


def run(
    argv: str | Sequence[str],
    cwd: Path | None,
    timeout: float | None,
    env: Mapping[str, str] | None = None,
    *,
    output: Path | None = None,
    grace: float = GRACE_SECONDS,
) -> Finished:
    """Run ``argv`` to completion or ``timeout``; stdout+stderr together in ``Finished.output``."""
    return start(argv, cwd, env=env, output=output).finish(timeout, grace)


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Signal a whole process group; one that is gone (or not ours to signal) is no error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def signal_process(pid: int, sig: signal.Signals) -> None:
    """Signal one process; one that is gone (or not ours to signal) is no error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def signal_name(number: int) -> str:
    """``SIGSEGV`` for 11; ``signal 99`` for a number with no name here."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def describe_exit(code: int | None, timeout: float | None) -> str:
    """A few words for how a child ended: ``exit 2``, ``killed by SIGSEGV``, ``timed out after 5 s``."""
    if code is None:
        return f"timed out after {timeout or 0:g} s"
    if code < 0:
        return f"killed by {signal_name(-code)}"
    return f"exit {code}"
