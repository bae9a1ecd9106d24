"""One command in a sandbox: the ``unshare`` prefix, the init's config, its status record.

The mechanics under harness/runtime/sandbox.py (which decides the mode and makes the boxes):
``launch`` opens the box's private files (output, status, report), starts ``unshare ... python
-I -S sandbox_init.py CONFIG`` with a backstop timeout, and reads back what the init recorded.
"""

from __future__ import annotations

import marshal
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from harness.runtime import process as proc

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
INIT = Path(__file__).with_name("sandbox_init.py")
GRACE = 15.0  # seconds the init gets beyond the timeout to kill, report and exit
_NAMESPACES = ["--pid", "--fork", "--kill-child", "--net", "--ipc", "--mount", "--mount-proc"]


class Mode(StrEnum):
    ROOT = "root"
    USERNS = "userns"
    NONE = "none"


@dataclass(frozen=True)
class Isolation:
    mode: Mode
    uid_pool: tuple[int, int] = (0, 0)  # root: first uid, how many
    why: str = ""  # why no stronger mode

    @property
    def warning(self) -> str | None:
        if self.mode is Mode.NONE:
            return (
                f"WARNING gate: tests run without a sandbox ({self.why}): no network isolation, no write "
                "protection, daemons tracked by parentage only; see docs/gate.md#isolation"
            )
        return None


@dataclass(frozen=True)
class Ran:
    """One command's run in a box. ``problems`` make the run untrustworthy, never a pass."""

    returncode: int | None  # None: timed out (or no status at all: then see problems)
    output: str
    seconds: float
    report: bytes = b""  # what the command wrote to the report descriptor
    survivors: tuple[str, ...] = ()  # processes that outlived it (killed)
    problems: tuple[str, ...] = ()


# -- one launch -----------------------------------------------------------------------------


def launch(
    isolation: Isolation,
    uid: int | None,
    argv: list[str],
    cwd: Path,
    env: dict[str, str],
    timeout: float,
    private: Path,
    protect: Sequence[Path],
    report: str | bool | None,
    hide: Path | None = None,
) -> Ran:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    paths = {name: private / name for name in ("output", "status", "report")}
    fds = {name: os.open(paths[name], flags, 0o600) for name in ("status", "report")}
    try:
        if isinstance(report, str):
            argv = [*argv, f"{report}={fds['report']}"]
        namespaces = isolation.mode is not Mode.NONE
        config: dict[str, Any] = {
            "argv": argv,
            "cwd": str(cwd),
            "env": env,
            "uid": uid,
            "namespaces": namespaces,
            "readonly": _readonly_paths(protect, cwd) if namespaces else [],
            "expose": _exposures() if uid is not None else {},
            "hide": [str(hide)] if hide is not None and namespaces else [],
            "timeout": timeout,
            "status_fd": fds["status"],
        }
        init = [sys.executable, "-I", "-S", str(INIT), marshal.dumps(config).hex()]
        passed = (fds["status"], fds["report"]) if report else (fds["status"],)
        child = proc.start(
            [*_prefix(isolation.mode), *init],
            Path("/"),
            env={"PATH": SYSTEM_PATH, "LANG": os.environ.get("LANG") or "C.UTF-8"},
            output=paths["output"],
            pass_fds=passed,
        )
        # The init keeps the timeout itself; this backstop is for an init that cannot.
        done = child.finish(timeout + GRACE, grace=0)
    finally:
        for fd in fds.values():
            os.close(fd)
    status, report_bytes = paths["status"].read_bytes(), paths["report"].read_bytes()
    return _ran(status, done.output, done.seconds, report_bytes, backstop=done.returncode is None, timeout=timeout)


def _prefix(mode: Mode) -> list[str]:
    if mode is Mode.NONE:
        return []
    unshare = shutil.which("unshare", path=SYSTEM_PATH) or "unshare"
    user = ["--user", "--map-root-user"] if mode is Mode.USERNS else []
    return [unshare, *user, *_NAMESPACES]


def _ran(status_raw: bytes, output: str, seconds: float, report: bytes, backstop: bool, timeout: float) -> Ran:
    """Read the init's status lines (see sandbox_init.py)."""
    code: int | None = None
    survivors: list[str] = []
    errors: list[str] = []
    for line in status_raw.decode(errors="replace").splitlines():
        key, _, value = line.partition(" ")
        if key == "returncode" and value.lstrip("-").isdigit():
            code = int(value)
        elif key == "survivor":
            pid, _, cmd = value.partition(" ")
            survivors.append(f"{cmd} (pid {pid} in the sandbox)")
        elif key == "error":
            errors.append(value)
    if errors:
        return Ran(None, output, seconds, report, problems=tuple(errors))
    if not status_raw:
        why = f"killed after {timeout + GRACE:g} s" if backstop else f"no status; its output ends: {tail(output)}"
        return Ran(None, output, seconds, report, problems=(f"the sandbox failed ({why})",))
    return Ran(code, output, seconds, report, tuple(survivors))


def _readonly_paths(protect: Sequence[Path], box: Path) -> list[str]:
    """The protected paths plus the gate's own install, minus any that would cover the box."""
    chosen: list[str] = []
    for path in (*protect, *install_paths()):
        resolved = path.resolve()
        text = str(resolved)
        if resolved == Path("/") or not resolved.exists() or box.is_relative_to(resolved) or text in chosen:
            continue
        chosen.append(text)
    return chosen


def install_paths() -> list[Path]:
    """What the tested command needs of the gate's install: its Python and site-packages, harness."""
    paths = {Path(sys.executable).resolve().parent, *(Path(p).resolve() for p in (sys.prefix, sys.base_prefix))}
    paths.add(Path(__file__).resolve().parents[2])  # the directory holding the harness package
    return sorted(paths)


def _exposures() -> dict[str, list[str]]:
    """Install paths below a directory other users cannot enter, by that directory (outermost
    first); a path inside another exposed one needs nothing of its own."""
    found: dict[str, list[str]] = {}
    for path in install_paths():
        blocker = next((p for p in reversed(path.parents) if not os.stat(p).st_mode & 0o001), None)
        if blocker is None:
            continue
        chosen = found.setdefault(str(blocker), [])
        if not any(path.is_relative_to(other) for other in chosen):
            chosen[:] = [other for other in chosen if not Path(other).is_relative_to(path)] + [str(path)]
    return found


def tail(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else "(no output)"
