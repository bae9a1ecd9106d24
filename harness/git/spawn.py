"""Starting one git process: captured output, a timeout, and for pushes a process group of its own.

A push to a local upstream runs ``receive-pack`` as a child of ``git push``. In the
caller's process group, a SIGKILL or SIGTERM meant for the caller (a loop being stopped, a
fleet going down, a test killing a claimer) reached ``receive-pack`` half-way through its
ref update and left the upstream's ``HEAD.lock`` behind (2 in 179 kills, measured), which
stops every push of the fleet. A *detached* git therefore starts in a process group of its
own, reads nothing from us and writes its output to unlinked temporary files rather than
pipes: a signal to the caller's group does not reach it, and the caller dying cannot make it
die of SIGPIPE, so it finishes the update it began; the claim it carried is then reconciled
by its nonce like any interrupted claim. (A group, not a session: on a loaded machine a new
session is a new scheduler autogroup, measured 10-15 ms slower per push; benchmarks/recovery.py.)
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from harness.errors import HarnessError

# What a finished git returns, for callers that type it without importing subprocess.
GitResult = subprocess.CompletedProcess[bytes]


def spawn_git(
    args: list[str],
    cwd: Path,
    env: Mapping[str, str],
    stdin: bytes | None = None,
    timeout: float | None = None,
    detach: bool = False,
) -> GitResult:
    """``git args`` in ``cwd``, its output captured; HarnessError when it cannot start or times out."""
    try:
        if detach:
            return _detached(args, cwd, env, stdin, timeout)
        return subprocess.run(
            ["git", *args], cwd=cwd, input=stdin, capture_output=True, env=env, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"`git {' '.join(args)}` timed out after {timeout} s") from exc
    except FileNotFoundError as exc:
        raise HarnessError(f"cannot run git in {cwd}: {exc.strerror}") from exc


def _detached(
    args: list[str], cwd: Path, env: Mapping[str, str], stdin: bytes | None, timeout: float | None
) -> GitResult:
    with tempfile.TemporaryFile() as feed, tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        feed.write(stdin or b"")
        feed.seek(0)
        child = subprocess.Popen(["git", *args], cwd=cwd, env=env, stdin=feed, stdout=out, stderr=err, process_group=0)
        try:
            code = child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()  # git itself only: what it started finishes or fails on its own
            child.wait()
            raise
        # Any other exception (KeyboardInterrupt) leaves the child running on purpose.
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(["git", *args], code, out.read(), err.read())
