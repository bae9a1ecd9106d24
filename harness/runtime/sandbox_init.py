"""The sandbox's first process: runs one test command, then kills and reports what outlived it.

The gate starts it inside fresh PID, network, IPC and mount namespaces (PID 1 there), or, where
no namespace can be made, as a child subreaper in its own session. It:

1. makes the paths it is told to protect read-only and hides the gate's private files (in a
   mount namespace only: there the tested code has no capability to undo it); where the gate's
   own install sits below a directory the sandbox uid may not enter (a Python under /root), it
   covers that directory with an empty tmpfs and binds back only the install;
2. brings up the loopback interface of its empty network namespace (tests may serve each other
   on 127.0.0.1; nothing outside is reachable);
3. runs the command with an empty capability bounding set and no_new_privs (a setuid binary
   gains nothing), as the sandbox uid when it has one;
4. waits for it, up to the timeout, reaping orphans meanwhile;
5. lists every process still alive below it, kills them all and writes its status record to
   the status descriptor, one ``key value`` line each: ``returncode N`` (or ``timedout``),
   ``survivor PID CMDLINE`` per process that outlived the command, ``error TEXT``.

It runs once per test command (per file, for the ``files`` runner), so it starts fast: ``python
-I -S sandbox_init.py HEX`` with the config marshalled in HEX, no import of harness, and only
built-in modules (no subprocess, json, socket or signal: each would pull in re and enum).
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # the C half of `signal`, without its enum import
import _socket
import ctypes
import fcntl
import marshal
import os
import struct
import sys
import time

TYPE_CHECKING = False  # typing itself costs 40 ms at start-up; mypy reads this as typing's
if TYPE_CHECKING:
    from typing import Any

PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC, MS_RELATIME = 32, 1024, 2048, 4096, 16384, 1 << 21
# statvfs flag -> mount flag: a remount inside a user namespace must keep the locked ones.
_KEEP = {
    os.ST_NOSUID: MS_NOSUID,
    os.ST_NODEV: MS_NODEV,
    os.ST_NOEXEC: MS_NOEXEC,
    os.ST_NOATIME: MS_NOATIME,
    os.ST_NODIRATIME: MS_NODIRATIME,
    os.ST_RELATIME: MS_RELATIME,
}
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
LAST_CAP = 63
SIGKILL = 9

_libc = ctypes.CDLL(None, use_errno=True)


class _TimedOut(Exception):
    pass


def _call(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


# -- set-up (namespaces only) ---------------------------------------------------------------


def make_readonly(path: str) -> None:
    """Bind ``path`` onto itself, then remount that bind read-only (keeping its locked flags)."""
    raw = path.encode()
    _call(_libc.mount(raw, raw, None, MS_BIND | MS_REC, None), f"bind {path}")
    flags = os.statvfs(path).f_flag
    keep = sum(mount for stat, mount in _KEEP.items() if flags & stat)
    _call(_libc.mount(None, raw, None, MS_REMOUNT | MS_BIND | MS_RDONLY | keep, None), f"read-only {path}")


def hide(path: str) -> None:
    """An empty, inaccessible tmpfs over ``path``: descriptors opened before stay valid."""
    raw = path.encode()
    _call(_libc.mount(b"tmpfs", raw, b"tmpfs", MS_NOSUID | MS_NODEV, b"size=4k,mode=000"), f"hide {path}")


def expose(blocker: str, paths: list[str]) -> None:
    """Cover ``blocker`` (which the sandbox uid cannot enter) with a world-enterable tmpfs and
    bind back just ``paths`` below it: everything else there is hidden from the tests."""
    fds = [os.open(path, os.O_PATH | os.O_DIRECTORY) for path in paths]
    raw = blocker.encode()
    _call(_libc.mount(b"tmpfs", raw, b"tmpfs", MS_NOSUID | MS_NODEV, b"size=64k,mode=755"), f"cover {blocker}")
    for path, fd in zip(paths, fds, strict=True):
        os.makedirs(path, mode=0o755, exist_ok=True)
        source = f"/proc/self/fd/{fd}".encode()
        _call(_libc.mount(source, path.encode(), None, MS_BIND | MS_REC, None), f"expose {path}")
        os.close(fd)


def loopback_up() -> None:
    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
    finally:
        sock.close()


def setup(config: dict[str, Any]) -> None:
    if not config["namespaces"]:
        _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        return
    for path in config["readonly"]:
        if os.path.isdir(path):
            make_readonly(path)
    for path in config["hide"]:
        hide(path)
    for blocker, paths in config["expose"].items():
        expose(blocker, paths)
    try:
        loopback_up()
    except OSError:
        return  # no loopback: tests serving on 127.0.0.1 fail, nothing else changes


# -- the command ----------------------------------------------------------------------------


def start(config: dict[str, Any]) -> int:
    """Fork and exec the command; raise OSError (from the child) when it could not start."""
    errors_r, errors_w = os.pipe()  # close-on-exec: EOF means the exec happened
    pid = os.fork()
    if pid == 0:
        try:
            os.close(errors_r)
            _become_tested(config)
        except BaseException as exc:  # anything here must reach the parent
            os.write(errors_w, f"{type(exc).__name__}: {exc}".encode(errors="replace"))
        os._exit(127)
    os.close(errors_w)
    failure = b""
    while chunk := os.read(errors_r, 4096):
        failure += chunk
    os.close(errors_r)
    if failure:
        os.waitpid(pid, 0)
        raise OSError(f"cannot start {config['argv'][0]}: {failure.decode(errors='replace')}")
    return pid


def _become_tested(config: dict[str, Any]) -> None:
    os.chdir(config["cwd"])
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    if config["namespaces"]:  # uid 0 of a user namespace would get every capability on exec
        for cap in range(LAST_CAP + 1):
            _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    uid = config["uid"]
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    _call(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    argv = config["argv"]
    os.execve(argv[0], argv, config["env"])


def _alarm(_signum: int, _frame: object) -> None:
    raise _TimedOut


def wait_for(pid: int, timeout: float) -> int | None:
    """The exit code of ``pid`` (negative: killed by that signal), or None after ``timeout``."""
    _signal.signal(_signal.SIGALRM, _alarm)
    _signal.setitimer(_signal.ITIMER_REAL, timeout)
    try:
        while True:
            done, status = os.waitpid(-1, 0)  # orphans reparented to us are reaped here too
            if done == pid:
                return os.waitstatus_to_exitcode(status)
    except _TimedOut:
        return None
    finally:
        _signal.setitimer(_signal.ITIMER_REAL, 0)


# -- what outlived it -----------------------------------------------------------------------


def _stat(pid: str) -> tuple[str, int] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read().decode(errors="replace")
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])  # state, ppid


def descendants(root: int) -> list[int]:
    """Live processes below ``root`` (zombies excluded)."""
    children: dict[int, list[int]] = {}
    alive: set[int] = set()
    for entry in os.listdir("/proc"):
        stat = _stat(entry) if entry.isdigit() else None
        if stat is None:
            continue
        children.setdefault(stat[1], []).append(int(entry))
        if stat[0] not in ("Z", "X"):
            alive.add(int(entry))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return [pid for pid in found if pid in alive and pid != root]


def describe(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            cmd = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        cmd = ""
    return f"{pid} {' '.join(cmd.split())[:200] or '?'}"


def kill_all_below(root: int, deadline: float) -> dict[int, str]:
    """Kill every process below ``root`` until none is left (forks while we kill included)."""
    killed: dict[int, str] = {}
    while time.monotonic() < deadline:
        pids = descendants(root)
        if not pids:
            break
        for pid in pids:
            killed.setdefault(pid, describe(pid))
            try:
                os.kill(pid, SIGKILL)
            except ProcessLookupError:
                continue  # gone meanwhile
        _reap()
        time.sleep(0.01)  # let SIGKILL land before the next look
    _reap()
    return killed


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main(argv: list[str]) -> int:
    config = marshal.loads(bytes.fromhex(argv[1]))
    status_fd = int(config["status_fd"])
    os.set_inheritable(status_fd, False)  # the tested command must not write our record
    try:
        setup(config)
        pid = start(config)
    except OSError as exc:
        os.write(status_fd, f"error the sandbox could not start the tests: {exc}\n".encode(errors="replace"))
        return 1
    code = wait_for(pid, float(config["timeout"]))
    killed = kill_all_below(os.getpid(), time.monotonic() + 10)
    lines = ["timedout"] if code is None else [f"returncode {code}"]
    if code is not None:  # after a timeout everything still running was cut short, not left behind
        lines += [f"survivor {text}" for other, text in killed.items() if other != pid]
    os.write(status_fd, "".join(line.replace("\n", " ") + "\n" for line in lines).encode(errors="replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
