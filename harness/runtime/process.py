"""Child processes for test runs: own process group, hard timeout, output to a log.

A hanging test (or one that forks a hanging child) is killed with its whole process
group, so a timeout never leaves a stray process holding the run open.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


def test_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment minus GIT_* (a hook's GIT_DIR must not leak into tests)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class Finished:
    returncode: int | None  # None: killed after the timeout
    output: str
    seconds: float


def run(argv: str | Sequence[str], cwd: Path, timeout: float, env: Mapping[str, str] | None = None) -> Finished:
    """Run ``argv`` (a string runs through the shell); stdout+stderr together."""
    import time

    start = time.monotonic()
    proc = subprocess.Popen(
        argv,
        shell=isinstance(argv, str),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(env) if env is not None else test_env(),
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, _ = proc.communicate()
        code = None
    finally:
        # Children the test left behind in its group (daemons, background jobs) go too.
        _kill_group(proc)
    return Finished(code, out.decode(errors="replace"), time.monotonic() - start)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def describe_exit(code: int | None, timeout: float) -> str:
    if code is None:
        return f"timed out after {timeout:g} s"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}"
    return f"exit {code}"
