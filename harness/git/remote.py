"""What a failed push, fetch or ls-remote means, from git's own words.

Each cause gets its own answer, because each asks for something different of the caller:

- **lost race** (``[rejected]``, non-fast-forward, "is at X but expected Y", the gate's "moved
  while this push was on its way"): someone else pushed first; fetch, decide again, push.
- **refused** (a hook declined): the gate said no; exit 6.
- **a lock in the way** ("Unable to create '…lock': File exists" that the choke point could
  not settle, stalelocks.py): an error naming the file and who may hold it, never a lost race
  retried in silence for minutes.
- **out of space or unwritable** (the upstream could not store the objects or the ref): an
  error (exit 1) with the upstream's reason, never mistaken for the gate's refusal.
- **unreachable**: the network policy retries it, then exit 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from harness.errors import GitError, HarnessError, UpstreamUnreachable
from harness.git.spawn import GitResult
from harness.git.stalelocks import reported_lock

# The gate's pre-receive hook says this when the ref moved under a push (DESIGN: it
# exits early then); for the pusher that is a lost race, exactly like a non-fast-forward.
REF_MOVED = "moved while this push was on its way"
_LOST_RACE = re.compile(
    r"\[rejected\]|non-fast-forward|fetch first|failed to update ref|cannot lock ref|but expected|"
    + re.escape(REF_MOVED)
)
_NO_STORAGE = re.compile(
    r"No space left on device|Disk quota exceeded|Read-only file system|Permission denied|"
    r"unpacker error|unpack failed|unable to create temporary object directory|unable to write",
    re.IGNORECASE,
)
_UNREACHABLE = re.compile(
    r"does not appear to be a git repository|Could not read from remote|"
    r"unable to access|Connection refused|Could not resolve host|"
    r"not a git repository|No such file or directory|unable to connect",
    re.IGNORECASE,
)


class PushStatus(Enum):
    OK = "ok"
    REJECTED = "rejected"  # not a fast-forward: someone pushed first
    REFUSED = "refused"  # a hook on the upstream declined it


@dataclass(frozen=True)
class PushResult:
    status: PushStatus
    remote_lines: tuple[str, ...] = ()


def push_outcome(argv: list[str], proc: GitResult, lock_is_ours: bool) -> PushResult:
    """The meaning of a finished ``git push --porcelain``; raises for the causes that are errors.

    ``lock_is_ours``: a lock file git reported lies in a repository on this machine that the
    choke point already tried to settle (so it is held, or cannot be removed), not a remote
    upstream's, where another pusher's ref lock is only a lost race.
    """
    if proc.returncode == 0:
        return PushResult(PushStatus.OK)
    text = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
    remote = tuple(
        line.removeprefix("remote: ").rstrip()
        for line in text.splitlines()
        if line.startswith("remote: ") and line.removeprefix("remote: ").strip()
    )
    lock = reported_lock(text)
    if lock is not None and lock_is_ours:
        raise HarnessError(
            f"the upstream's {lock} blocks every push and is still there; if no git process runs in "
            "the upstream, delete it (harness removes it by itself once it is 10 s old and unused)"
        )
    if "hook declined" not in text and REF_MOVED not in text and _NO_STORAGE.search(_upstream_words(text, remote)):
        raise HarnessError(
            f"the upstream could not store the push ({_storage_reason(text, remote)}); "
            "free space on its disk or make it writable, then run this again"
        )
    # A concurrent update of the same ref (receive-pack's ref lock, or "is at X but
    # expected Y") is a lost race like a non-fast-forward, not a refusal.
    if _LOST_RACE.search(text):
        return PushResult(PushStatus.REJECTED, remote)
    if "[remote rejected]" in text or "hook declined" in text:
        return PushResult(PushStatus.REFUSED, remote)
    raise_remote_failure(argv, proc)
    raise AssertionError("unreachable")


def _upstream_words(text: str, remote: tuple[str, ...]) -> str:
    """What the upstream said: its ``remote:`` lines, the rejection reasons, "remote unpack failed"."""
    ours = [line for line in text.splitlines() if "[remote rejected]" in line or "remote unpack" in line]
    return "\n".join([*remote, *ours])


def _storage_reason(text: str, remote: tuple[str, ...]) -> str:
    """The most telling line: the upstream's own (ENOSPC, EROFS), else git's summary of it."""
    for line in remote:
        if _NO_STORAGE.search(line):
            return line.removeprefix("fatal: ").removeprefix("error: ").strip()
    for line in text.splitlines():
        if "remote unpack failed:" in line:
            return "unpack failed: " + line.split("remote unpack failed:", 1)[1].strip()
    found = re.search(r"\[remote rejected\] \(([^)]*)\)", text)
    return found.group(1) if found else "no reason given"


def raise_remote_failure(argv: list[str], proc: GitResult) -> None:
    stderr = proc.stderr.decode(errors="replace")
    if _UNREACHABLE.search(stderr):
        error = GitError(argv, proc.returncode, stderr)
        raise UpstreamUnreachable(f"upstream unreachable: {error}")
    raise GitError(argv, proc.returncode, stderr)
