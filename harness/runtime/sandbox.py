"""Gate test runs in a sandbox the tested code cannot write out of, reach the network from, or outlive.

Three strengths, the strongest this machine allows (probed once per process, see ``detect``):

- ``root`` (the gate runs as root and may make namespaces): ``unshare`` gives the run its own PID,
  network, IPC and mount namespaces; the tests run as a uid of their own, picked at random per
  box from a range no account uses, so they cannot write the upstream, the gate's state, the
  gate's install or another concurrent run's box; every descendant dies with the namespace.
- ``userns`` (not root, unprivileged user namespaces allowed): the same namespaces inside a user
  namespace where the tests are uid 0 without any capability; the upstream, the gate's state and
  the gate's install are bind-mounted read-only, the gate's private files hidden.
- ``none``: a clean interpreter and environment, a subreaper that still kills every descendant,
  and one WARNING line per gate check saying what is missing and why.

A *box* is one run's directory: a copy of the tree to test (owned by the sandbox uid), a HOME and
a TMPDIR for it, and a private directory (gate only) holding the command's output, the init's
status record and the pytest reporter's JSON lines. Boxes share nothing, so any number of gate
runs may go on at once (the merge queue runs several). See docs/gate.md, "Isolation".
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from harness.runtime.sandbox_launch import SYSTEM_PATH, Isolation, Mode, Ran, launch, tail

__all__ = ["BOX_PARENT", "SYSTEM_PATH", "Box", "Isolation", "Mode", "Ran", "Sandbox", "detect"]

UID_BASE, UID_SPAN = 0x58000000, 1 << 24  # no account lives up there; a random one per box
NOBODY = 65534
BOX_PARENT = Path("/tmp")  # fixed, not $TMPDIR: the pusher's environment reaches the hook

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


# -- what this machine allows -----------------------------------------------------------------

_detected: Isolation | None = None
_detect_lock = threading.Lock()


def detect() -> Isolation:
    """The strongest isolation that works here; probed once per process (about 50 ms)."""
    global _detected
    with _detect_lock:
        if _detected is None:
            _detected = _probe_all()
        return _detected


def _probe_all() -> Isolation:
    if shutil.which("unshare", path=SYSTEM_PATH) is None:
        return Isolation(Mode.NONE, why="util-linux `unshare` is not installed")
    reasons: list[str] = []
    if os.geteuid() == 0:
        for pool in ((UID_BASE, UID_SPAN), (NOBODY, 1)):
            error = _probe(Isolation(Mode.ROOT, pool))
            if not error:
                return Isolation(Mode.ROOT, pool)
        reasons.append(f"as root: {error}")
    else:
        reasons.append("the gate does not run as root")
    error = _probe(Isolation(Mode.USERNS))
    if not error:
        return Isolation(Mode.USERNS, why="; ".join(reasons))
    reasons.append(f"no user namespace: {error}")
    return Isolation(Mode.NONE, why="; ".join(reasons))


def _probe(isolation: Isolation) -> str:
    """Why a trivial run (the gate's Python importing harness) fails in this mode; "" when it works."""
    with tempfile.TemporaryDirectory(prefix="harness-probe-", dir=BOX_PARENT) as tmp:
        private = Path(tmp)
        uid = isolation.uid_pool[0] if isolation.mode is Mode.ROOT else None
        argv = [sys.executable, "-I", "-c", "import harness"]
        ran = launch(isolation, uid, argv, Path("/"), {"PATH": SYSTEM_PATH}, 60, private, (), report=False)
    if ran.problems:  # most often unshare's own complaint, the last thing it printed
        return tail(ran.output) if ran.output.strip() else ran.problems[0]
    if ran.returncode != 0:
        return f"exit {ran.returncode}: {tail(ran.output)}"
    return ""


# -- boxes --------------------------------------------------------------------------------------

_uids_in_use: set[int] = set()
_uid_lock = threading.Lock()


def _take_uid(pool: tuple[int, int]) -> int:
    first, count = pool
    if count <= 1:
        return first
    with _uid_lock:
        while True:
            uid = first + secrets.randbelow(count)
            if uid not in _uids_in_use:
                _uids_in_use.add(uid)
                return uid


def _give_uid(uid: int) -> None:
    with _uid_lock:
        _uids_in_use.discard(uid)


class Sandbox:
    """Where one gate check runs its tests. ``protect``: paths the tests must not write."""

    def __init__(
        self,
        protect: Sequence[Path] = (),
        say: Say | None = None,
        isolation: Isolation | None = None,
        parent: Path = BOX_PARENT,
    ) -> None:
        self.isolation = isolation or detect()
        self.protect = tuple(protect)
        self.say = say or _quiet
        self.parent = parent
        if self.isolation.warning:
            self.say(self.isolation.warning)

    @contextmanager
    def box(self, tree: Path) -> Iterator[Box]:
        """A private copy of ``tree`` to run commands in; removed afterwards."""
        uid = _take_uid(self.isolation.uid_pool) if self.isolation.mode is Mode.ROOT else None
        base = Path(tempfile.mkdtemp(prefix="harness-sandbox-", dir=self.parent))
        try:
            base.chmod(0o711)  # the sandbox uid may pass through, not list
            yield Box(self, base, tree, uid)
        finally:
            _remove(base)
            if uid is not None:
                _give_uid(uid)


class Box:
    def __init__(self, sandbox: Sandbox, base: Path, tree: Path, uid: int | None) -> None:
        self.sandbox, self.uid = sandbox, uid
        self.private = base / "private"
        self.private.mkdir(mode=0o700)
        self.root = base / "work"
        shutil.copytree(tree, self.root, symlinks=True)
        self.home, self.tmp, self.out = base / "home", base / "tmp", base / "out"
        for path in (self.home, self.tmp, self.out):
            path.mkdir(mode=0o700)
        if uid is not None:
            for path in (self.root, self.home, self.tmp, self.out):
                _chown_tree(path, uid)
        self.root.chmod(0o700)
        self._seq = itertools.count()
        self._lock = threading.Lock()

    def env(self) -> dict[str, str]:
        """Everything the tested command gets: nothing of the pusher's or the hook's environment."""
        return {
            "PATH": f"{Path(sys.executable).parent}:{SYSTEM_PATH}",
            "HOME": str(self.home),
            "TMPDIR": str(self.tmp),
            "LANG": os.environ.get("LANG") or "C.UTF-8",
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        }

    def run(self, argv: str | Sequence[str], timeout: float, report_flag: str | None = None) -> Ran:
        """Run ``argv`` (a string runs through /bin/sh) in the box; safe to call from many threads.

        ``report_flag``: the command takes ``FLAG=FD``, a descriptor onto a file only the gate can
        open, and writes its structured report there (the pytest reporter)."""
        with self._lock:
            n = next(self._seq)
        command = ["/bin/sh", "-c", argv] if isinstance(argv, str) else list(argv)
        private = self.private / f"run-{n}"
        private.mkdir(mode=0o700)
        ran = launch(
            self.sandbox.isolation,
            self.uid,
            command,
            self.root,
            self.env(),
            timeout,
            private,
            self.sandbox.protect,
            report=report_flag,
            hide=self.private,
        )
        if ran.survivors:
            self.sandbox.say(
                f"gate: WARNING {len(ran.survivors)} process(es) outlived the test run and were killed: "
                + "; ".join(ran.survivors)
            )
        return ran


def _chown_tree(root: Path, uid: int) -> None:
    os.lchown(root, uid, uid)
    for parent, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            os.lchown(os.path.join(parent, name), uid, uid)


def _remove(path: Path) -> None:
    """Delete a box, even where the tests took their own permissions away."""

    def retry(func: Callable[[str], object], failed: str, _exc: object) -> None:
        with suppress(OSError):
            os.chmod(os.path.dirname(failed), 0o700)
            func(failed)

    shutil.rmtree(path, onerror=retry)
