"""A best-effort queue for pushes to a local upstream.

Optimistic pushing wastes work under contention: every agent that loses the race for
``main`` fetches, rebuilds and pushes again, and with 8 agents on one machine the fleet
measured ~5x more CPU per iteration than a lone agent, nearly all of it lost races. When the
upstream is a directory on this machine (local fleets, and Docker fleets, which mount it),
pushers first queue on an advisory lock in ``<upstream>/harness/push.lock``, so their
fetch-decide-push cycles take turns instead of colliding.

The slot is only a hint: correctness still comes from git refusing non-fast-forward pushes
(and the nonce checks). A pusher waits at most ``wait`` seconds and then goes ahead without
it, so a slow gated push never stalls claims for long; an upstream on another machine, or a
lock file we cannot open, simply means no queue. The kernel releases the lock when its
holder dies, even by SIGKILL.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.git.repo import GitRepo
from harness.git.upstream import local_upstream_path

SLOT_WAIT_SECONDS = 2.0
_POLL_SECONDS = 0.005


@dataclass(frozen=True)
class Turn:
    held: bool  # we hold the slot for the block
    waited: bool  # another pusher held it when we came: main has probably moved

    def __bool__(self) -> bool:
        return self.held


@contextmanager
def push_slot(repo: GitRepo, wait: float = SLOT_WAIT_SECONDS) -> Iterator[Turn]:
    """Hold the upstream's push slot for the block if it comes within ``wait``; yields our Turn."""
    upstream = local_upstream_path(repo)
    fd = _open_lock(upstream / "harness" / "push.lock") if upstream else None
    if fd is None:
        yield Turn(held=False, waited=False)
        return
    try:
        held, waited = _acquire(fd, time.monotonic() + wait)
        try:
            yield Turn(held, waited)
        finally:
            if held:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _open_lock(path: Path) -> int | None:
    try:
        path.parent.mkdir(exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:  # a read-only upstream, or one we may not write: no queue, still correct
        return None


def _acquire(fd: int, deadline: float) -> tuple[bool, bool]:
    """(held, waited)."""
    waited = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True, waited
        except BlockingIOError:
            waited = True
            if time.monotonic() >= deadline:
                return False, waited
            time.sleep(_POLL_SECONDS)
