"""The fork server behind ``harness``'s short commands (docs/cli-server.md).

    python -m harness.cliserver SOCKET    started by harness.client, detached
    python -m harness.cliserver --stop    stop this install's server, if one runs

It imports the CLI and what the served commands use once, then forks a child per request
(``harness.cliserver_child``). This parent only reads requests and watches: each child
through a pidfd, each client's connection for EOF. A client that goes away (killed, or
interrupted) takes its command with it: SIGTERM, then SIGKILL, to the child's process
group, as if the command had run in the client's own process group. When the child ends,
the client gets its exit status (a death by signal N as 128+N).

One server per socket, by a ``flock`` held for the server's life on ``SOCKET.lock`` (which
also holds its pid, for ``--stop``). It leaves after ``$HARNESS_SERVER_IDLE`` seconds
(default 900) with no request, removing its socket; SIGTERM makes it stop listening and
leave once the commands it runs have ended.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import importlib
import os
import select
import signal
import socket
import sys
import time
from dataclasses import dataclass

from harness import client
from harness.cliserver_child import Request, decode_request, run_child

# An agent's claim and its release are a session apart (often 10-30 minutes with an LLM);
# a shorter life would make most served commands start a server instead of using one.
IDLE_SECONDS = 900.0
READ_SECONDS = 2.0  # a client sends its whole request at once; a slower one is not a client
TERM_GRACE = 2.0  # between SIGTERM and SIGKILL of a served command whose client went away
MAX_REQUEST = 16 << 20
FD_BYTES = 4 * 3
PRELOAD = (
    "harness.cli.main",
    "harness.cli.tasks",
    "harness.locks.claim",
    "harness.locks.release",
    "harness.locks.status",
    "harness.tasks.ops",
    "harness.tasks.specs",
    "harness.history.textfmt",
    "harness.workspace",
    "tenacity",  # the retry policies import it after a first failed attempt
)


@dataclass
class Job:
    """A request from its acceptance to the client being told how it ended."""

    conn: socket.socket
    request: Request
    pid: int = 0  # 0 until the client says go
    pidfd: int = -1
    watching_conn: bool = True


class Server:
    """The accept/watch loop: single-threaded, so forking it is safe."""

    def __init__(self, path: str, listener: socket.socket, idle: float) -> None:
        self.path = path
        self.listener: socket.socket | None = listener
        self.idle = idle
        self.can_watch = pidfds_work()
        self.poller = select.poll()
        self.jobs: dict[int, Job] = {}  # by connection fd
        self.exits: dict[int, Job] = {}  # by pidfd
        self.kills: list[tuple[float, int]] = []  # (when, process group) to SIGKILL
        self.last_active = time.monotonic()
        self.wake, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_write)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: None)  # seen through the wake-up fd, in the loop
        self.poller.register(listener, select.POLLIN)
        self.poller.register(self.wake, select.POLLIN)

    def serve(self) -> None:
        while self.listener is not None or self.jobs or self.kills:
            for fd, _ in self.poller.poll(self._timeout_ms()):
                self._dispatch(fd)
            self._escalate()
            if not self.jobs and time.monotonic() - self.last_active >= self.idle:
                self.stop_listening()

    def stop_listening(self) -> None:
        if self.listener is not None:
            self.poller.unregister(self.listener)
            remove(self.path)
            self.listener.close()
            self.listener = None

    def _timeout_ms(self) -> int | None:
        deadlines = [when for when, _ in self.kills]
        if not self.jobs and self.listener is not None:
            deadlines.append(self.last_active + self.idle)
        if not deadlines:
            return None
        return max(0, int((min(deadlines) - time.monotonic()) * 1000) + 1)

    def _dispatch(self, fd: int) -> None:
        if self.listener is not None and fd == self.listener.fileno():
            self._accept()
        elif fd == self.wake:
            while _read_some(self.wake):
                pass
            self.stop_listening()
        elif fd in self.exits:
            self._reap(self.exits.pop(fd))
        elif fd in self.jobs:
            self._on_client(self.jobs[fd])

    def _accept(self) -> None:
        assert self.listener is not None
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:  # BlockingIOError: no one else waiting
                return
            self._admit(conn)

    def _admit(self, conn: socket.socket) -> None:
        if peer_uid(conn) != os.getuid():  # the folder is private already; this costs one call
            conn.close()
            return
        conn.settimeout(READ_SECONDS)
        try:
            request = read_request(conn)
        except (OSError, ValueError):
            conn.close()
            return
        self.last_active = time.monotonic()
        with contextlib.suppress(OSError):
            conn.sendall(b"A" if self.can_watch else b"R")
        if not self.can_watch:
            request.close_fds()
            conn.close()
            return
        conn.setblocking(False)
        self.jobs[conn.fileno()] = Job(conn, request)
        self.poller.register(conn, select.POLLIN)

    def _on_client(self, job: Job) -> None:
        try:
            data = job.conn.recv(16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if job.pid == 0:
            if data.startswith(b"G"):
                self._fork(job)
            else:  # gone, or junk, before saying go: nothing ran
                self._drop(job)
        elif not data:  # the client went away while its command runs: stop the command
            self.poller.unregister(job.conn)
            job.watching_conn = False
            _kill_group(job.pid, signal.SIGTERM)
            self.kills.append((time.monotonic() + TERM_GRACE, job.pid))

    def _fork(self, job: Job) -> None:
        try:
            pid = os.fork()
        except OSError as exc:
            os.write(job.request.fds[2], f"error: harness server cannot fork: {exc.strerror}\n".encode())
            self._finish(job, 1)
            return
        if pid == 0:
            run_child(job.request)
        with contextlib.suppress(OSError):  # ours too: a kill must not race the child's own setpgid
            os.setpgid(pid, pid)
        job.request.close_fds()  # the child has them; ours would keep the client's pipes open
        job.pid, job.pidfd = pid, os.pidfd_open(pid)
        self.exits[job.pidfd] = job
        self.poller.register(job.pidfd, select.POLLIN)

    def _reap(self, job: Job) -> None:
        pid, status = os.waitpid(job.pid, os.WNOHANG)  # never block the loop on a stale event
        if pid == 0:
            self.exits[job.pidfd] = job
            return
        code = os.waitstatus_to_exitcode(status)
        self.poller.unregister(job.pidfd)
        os.close(job.pidfd)
        self._finish(job, code if code >= 0 else 128 - code)

    def _finish(self, job: Job, code: int) -> None:
        with contextlib.suppress(OSError):
            job.conn.sendall(code.to_bytes(4, "big"))
        self._drop(job)
        self.last_active = time.monotonic()

    def _drop(self, job: Job) -> None:
        if job.pid == 0:
            job.request.close_fds()
        if job.watching_conn:
            self.poller.unregister(job.conn)
        self.jobs.pop(job.conn.fileno(), None)
        job.conn.close()

    def _escalate(self) -> None:
        now = time.monotonic()
        for entry in [k for k in self.kills if k[0] <= now]:
            self.kills.remove(entry)
            _kill_group(entry[1], signal.SIGKILL)


def read_request(conn: socket.socket) -> Request:
    """One request and the three fds that came with it; ValueError if malformed."""
    data, ancillary, flags, _ = conn.recvmsg(65536, socket.CMSG_SPACE(FD_BYTES), socket.MSG_CMSG_CLOEXEC)
    fds = [int.from_bytes(d[i : i + 4], sys.byteorder) for _, _, d in ancillary for i in range(0, len(d) - 3, 4)]
    try:
        if len(fds) != 3 or flags & socket.MSG_CTRUNC or not data.startswith(client.PROTOCOL[:1]):
            raise ValueError("no request")
        head = len(client.PROTOCOL) + 4
        data += _recv_until(conn, data, head)
        if not data.startswith(client.PROTOCOL):
            raise ValueError("not a harness request")
        size = int.from_bytes(data[len(client.PROTOCOL) : head], "big")
        if size > MAX_REQUEST:
            raise ValueError("request too large")
        data += _recv_until(conn, data, head + size)
        return decode_request(data[head : head + size], (fds[0], fds[1], fds[2]))
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def peer_uid(conn: socket.socket) -> int:
    credentials = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)  # struct ucred: pid, uid, gid
    return int.from_bytes(credentials[4:8], sys.byteorder)


def _recv_until(conn: socket.socket, have: bytes, total: int) -> bytes:
    more = b""
    while len(have) + len(more) < total:
        chunk = conn.recv(min(total - len(have) - len(more), 1 << 20))
        if not chunk:
            raise ValueError("truncated request")
        more += chunk
    return more


def _read_some(fd: int) -> bytes:
    try:
        return os.read(fd, 512)
    except BlockingIOError:
        return b""


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(OSError):  # already gone
        os.killpg(pgid, sig)


def pidfds_work() -> bool:
    """pidfd_open needs Linux >= 5.3; without it the server refuses every request."""
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return False
    return True


def remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def take_lock(path: str) -> int | None:
    """The server's life-long lock, with our pid in it; None if another server has it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def idle_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get("HARNESS_SERVER_IDLE", IDLE_SECONDS)))
    except ValueError:
        return IDLE_SECONDS


def preload() -> None:
    """Import once, here, what every served command would import in its child."""
    import click

    for name in PRELOAD:
        importlib.import_module(name)
    from harness.cli.main import cli

    cli.list_commands(click.Context(cli))  # registers the lazily loaded areas (`tasks`)


def listen(path: str) -> socket.socket:
    remove(path)  # we hold the lock: a socket file left here is a dead server's
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(128)
    listener.setblocking(False)
    return listener


def serve(path: str) -> int:
    if path != client.socket_path():
        return 2  # another install, or sources edited since the client looked: not ours to serve
    lock = take_lock(path + ".lock")
    if lock is None:
        return 0  # lost the race to start: the winner serves
    preload()
    gc.freeze()  # children's collections then skip what we imported: fewer copy-on-write faults
    server = Server(path, listen(path), idle_seconds())
    try:
        server.serve()
    finally:
        server.stop_listening()
    return 0


def stop(path: str, timeout: float = 10.0) -> bool:
    """SIGTERM the server of ``path`` and wait until it has let go of its lock (its running
    commands end first). False if no server held it."""
    try:
        fd = os.open(path + ".lock", os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        signalled = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return signalled
            except BlockingIOError:
                pass
            pid = int(os.pread(fd, 32, 0).strip() or 0)
            if pid > 1 and not signalled:  # an empty file: the winner has not written its pid yet
                _kill(pid)
                signalled = True
            time.sleep(0.02)
        return signalled
    finally:
        os.close(fd)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--stop"]:
        path = client.socket_path()
        print("stopped" if path is not None and stop(path) else "no server running")
        return 0
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m harness.cliserver SOCKET | --stop", file=sys.stderr)
        return 2
    return serve(args[0])


if __name__ == "__main__":
    sys.exit(main())
