"""One agent session as a child process the agent cannot use against the loop.

Invariant 7 (the loop outlives the agent): the session starts in its own session and
process group (runtime/process.py starts every child so), so ``kill 0``, ``pkill -g`` or a
terminal's ^C reach only the agent; where the loop runs as root it also runs as another user, so
``kill -9 -1`` or ``pkill -9 bash`` from the agent cannot touch the loop. A session past
its timeout, or one the loop is asked to stop, gets SIGTERM and then SIGKILL for its whole
group — and, when it has its own user, for every process of that user — so nothing of it
lingers holding files or the terminal.
"""

from __future__ import annotations

import os
import pwd
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.runtime import process

POLL_SECONDS = 0.5  # how often the wait loop runs ``tick`` (heartbeats, stop requests)


@dataclass(frozen=True)
class SessionUser:
    uid: int
    gid: int
    home: Path | None = None


@dataclass(frozen=True, kw_only=True)
class SessionSpec:
    argv: list[str]
    cwd: Path
    env: Mapping[str, str]
    log_path: Path
    timeout: float
    stdin_file: Path | None = None
    user: SessionUser | None = None
    kill_grace: float = 10.0


@dataclass(frozen=True, kw_only=True)
class SessionResult:
    returncode: int | None  # None when killed by a signal
    signal: int | None
    timed_out: bool
    stopped: bool  # the loop stopped it (SIGTERM to the loop, stop file)
    duration: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and not self.stopped

    def describe(self) -> str:
        if self.timed_out:
            return f"timed out after {self.duration:.0f} s"
        if self.stopped:
            return "stopped by the loop"
        if self.signal is not None:
            return process.describe_exit(-self.signal, None)
        return f"exited {self.returncode}"


def resolve_user(name: str) -> SessionUser | None:
    """``session_user`` → uid/gid; only meaningful when the loop runs as root."""
    if not name or os.geteuid() != 0:
        return None
    if name.isdigit():
        uid = int(name)
        try:
            entry = pwd.getpwuid(uid)
            return SessionUser(uid, entry.pw_gid, Path(entry.pw_dir))
        except KeyError:
            return SessionUser(uid, uid)  # an anonymous uid owns nothing and can signal nothing of ours
    try:
        entry = pwd.getpwnam(name)
    except KeyError as exc:
        raise HarnessError(f"loop.session_user: no user {name!r} on this machine; create it or give a uid") from exc
    return SessionUser(entry.pw_uid, entry.pw_gid, Path(entry.pw_dir))


def run_session(spec: SessionSpec, tick: Callable[[], bool]) -> SessionResult:
    """Run the session to completion; ``tick()`` runs every POLL_SECONDS and returns True to stop it."""
    spec.log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    user = spec.user
    try:
        child = process.start(
            spec.argv,
            spec.cwd,
            env=spec.env,
            output=spec.log_path,
            stdin=spec.stdin_file,
            user=(user.uid, user.gid) if user else None,
            # umask 0: the files the agent writes stay writable by the loop's git and vice versa.
            umask=0 if user else -1,
        )
    except OSError as exc:
        raise HarnessError(f"cannot start the agent `{spec.argv[0]}`: {exc.strerror or exc}") from exc
    timed_out = stopped = False
    deadline = start + spec.timeout
    try:
        while not child.wait(max(0.01, min(POLL_SECONDS, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                timed_out = True
                break
            if tick():
                stopped = True
                break
    finally:
        # Also when tick() raised: a session never outlives the loop's interest in it.
        child.stop(spec.kill_grace)
        child.kill_leftovers()
        _kill_user_leftovers(spec.user)
        child.close()
    code = child.returncode
    return SessionResult(
        returncode=code if code is not None and code >= 0 else None,
        signal=-code if code is not None and code < 0 else None,
        timed_out=timed_out,
        stopped=stopped,
        duration=time.monotonic() - start,
    )


def _kill_user_leftovers(user: SessionUser | None) -> None:
    """With a session user, every process of that uid dies with the session (it may have
    left its group: ``setsid``, a double fork)."""
    if user is not None and user.uid != 0:
        for pid in _pids_of_uid(user.uid):
            process.signal_process(pid, signal.SIGKILL)


def _pids_of_uid(uid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids
