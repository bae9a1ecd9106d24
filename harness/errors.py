"""The HarnessError tree: every failure the tool reports carries its exit code.

The CLI's single top-level handler prints ``str(error)`` as one line and exits with
``error.exit_code``; nothing below the CLI prints tracebacks or calls ``sys.exit``.
"""

from __future__ import annotations

import sys
from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the stable command surface (see DESIGN.md)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    HELD = 3
    NOT_CLAIMABLE = 4
    FENCED = 5
    GATE_REFUSED = 6
    UNDECIDED = 7  # bisect: no answer to trust (a flaky probe, units it cannot judge)
    SANITY = 8  # bisect: the probe does not tell the oracle build from the candidate build
    INTERRUPTED = 130


class HarnessError(Exception):
    """Base class: a failure with a one-line message and an exit code."""

    exit_code: ExitCode = ExitCode.ERROR


class ConfigError(HarnessError):
    """harness.yaml, a lock file, a task spec or a report is malformed."""


class UsageError(HarnessError):
    exit_code = ExitCode.USAGE


class GitError(HarnessError):
    """A git command failed; the message names the command, its exit code and stderr."""

    def __init__(self, argv: list[str], returncode: int, stderr: str) -> None:
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr
        last = _last_meaningful_line(stderr)
        super().__init__(f"`git {' '.join(argv)}` exited {returncode}: {last}")


class UpstreamUnreachable(HarnessError):
    """The upstream could not be reached even after the network retry policy."""


class RebaseConflict(HarnessError):
    """Our commits conflict with upstream main: the rebase was aborted, nothing was pushed and
    the commits are as they were. The loop answers it with its rebase by conflict class."""


class LockHeld(HarnessError):
    exit_code = ExitCode.HELD


class NotClaimable(HarnessError):
    exit_code = ExitCode.NOT_CLAIMABLE


class Fenced(HarnessError):
    exit_code = ExitCode.FENCED


class GateRefused(HarnessError):
    exit_code = ExitCode.GATE_REFUSED


class BisectUndecided(HarnessError):
    exit_code = ExitCode.UNDECIDED


class SanityFailed(HarnessError):
    exit_code = ExitCode.SANITY


def warn(message: str) -> None:
    """Something harness repaired or decided on its own that a person should know about: one
    ``WARNING`` line on stderr (core has no other channel to the user; the loop's own lines
    go through its ``say``)."""
    sys.stderr.write(f"WARNING {message}\n")
    sys.stderr.flush()


def _last_meaningful_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    chosen = fatal[-1] if fatal else (lines[-1] if lines else "(no output)")
    return chosen
