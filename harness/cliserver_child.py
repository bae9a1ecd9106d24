"""One served command, in the child the fork server made for it (docs/cli-server.md).

The child becomes the client's stand-in: the client's stdin/stdout/stderr, working
directory, umask, environment and argv; its own process group (so the server can stop it
and every git process under it when the client goes away); then the click CLI's ``main``,
exactly as the client would have run it in-process.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
from dataclasses import dataclass
from typing import NoReturn, TextIO

from harness.client import CLIENT_PID_ENV


@dataclass(frozen=True)
class Request:
    """What a client sends: who, where, what, and its fds 0/1/2 (received as new fds)."""

    pid: int
    umask: int
    cwd: bytes
    argv: tuple[str, ...]
    env: dict[bytes, bytes]
    fds: tuple[int, int, int]

    def close_fds(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)


def decode_request(body: bytes, fds: tuple[int, int, int]) -> Request:
    """The body ``harness.client.encode_request`` built; ValueError if it is not one."""
    parts = body.split(b"\0")
    if len(parts) < 4:
        raise ValueError("short request")
    argc = int(parts[3])
    argv = parts[4 : 4 + argc]
    if argc < 1 or len(argv) != argc:
        raise ValueError("bad argv")
    pairs = (entry.partition(b"=") for entry in parts[4 + argc :])
    env = {key: value for key, _, value in pairs if key}  # putenv refuses an empty name
    return Request(int(parts[0]), int(parts[1]), parts[2], tuple(os.fsdecode(a) for a in argv), env, fds)


def run_child(request: Request) -> NoReturn:
    """Never returns into the server's loop, whatever happens."""
    code = 1
    try:
        code = _serve(request)
    except BaseException as exc:  # our own set-up failed: still one line for the user
        _say(f"error: harness server could not run the command: {type(exc).__name__}: {exc}")
    finally:
        os._exit(code)


def _serve(request: Request) -> int:
    os.setpgid(0, 0)
    _reset_signals()
    for target, fd in enumerate(request.fds):
        os.dup2(fd, target)
    # Nothing of the server's may stay open here: another client's socket or stdout held
    # by this child would keep that client waiting until this command ends.
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    os.umask(request.umask)
    os.environb.clear()
    os.environb.update(request.env)
    os.environ[CLIENT_PID_ENV] = f"{request.pid}:{os.getpid()}"
    sys.argv = list(request.argv)
    _reopen_stdio()
    try:
        os.chdir(request.cwd)
    except OSError as exc:
        _say(f"error: {os.fsdecode(request.cwd)}: {exc.strerror}")
        return 1
    return run_cli(sys.argv[1:])


def _reset_signals() -> None:
    """The dispositions a fresh interpreter has; the server handles these to drain."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def _reopen_stdio() -> None:
    """Text streams over the client's fds, buffered as Python would have made them at
    start-up (the server's stdout was /dev/null: block-buffered even for a terminal).
    Encodings and -u (PYTHONUNBUFFERED) are the server's, which match the client's: the
    variables that set them are in the socket's key."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    sys.stdin = _text_stream(0, "r", sys.stdin, line_buffering=False)
    sys.stdout = _text_stream(1, "w", sys.stdout, line_buffering=os.isatty(1))
    sys.stderr = _text_stream(2, "w", sys.stderr, line_buffering=True)


def _text_stream(fd: int, mode: str, like: TextIO, line_buffering: bool) -> io.TextIOWrapper:
    # -u (PYTHONUNBUFFERED) made the server's stdout and stderr write-through: so must these be.
    unbuffered = mode == "w" and isinstance(like, io.TextIOWrapper) and like.write_through
    raw = io.FileIO(fd, mode, closefd=False)
    binary = raw if unbuffered else io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
    return io.TextIOWrapper(
        binary,
        encoding=like.encoding,
        errors=like.errors,
        line_buffering=line_buffering and not unbuffered,
        write_through=unbuffered,
    )


def run_cli(args: list[str]) -> int:
    """The click CLI's ``main(args)`` in this process, as the exit code the interpreter
    would have given it, with stdout and stderr flushed (the caller leaves by ``os._exit``)."""
    from harness.cli.main import main

    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):
            stream.flush()
    return code


def _exit_code(exc: SystemExit) -> int:
    """What the interpreter would have exited with (it prints a non-int code)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    _say(str(exc.code))
    return 1


def _say(line: str) -> None:
    with contextlib.suppress(OSError):
        os.write(2, (line + "\n").encode(errors="backslashreplace"))
