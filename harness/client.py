"""The ``harness`` entry point: short commands go to a warm fork server, the rest run here.

A CLI claim used to spend most of its time importing (click, PyYAML, our dataclasses)
before running a ~60 ms claim. Like Mercurial's ``chg``, this module hands the short
commands to ``harness.cliserver``, a process that has imported all of that once and forks a
child per request; see docs/cli-server.md. That only pays if this module itself costs
nothing, so it imports only what the interpreter has already loaded (``os``, ``sys``) plus
``_socket`` (the C module: ``socket`` pulls in ``enum``). No ``re``, ``json``, ``typing``,
``pathlib``, ``click``: check with ``python -X importtime -c 'import harness.client'``.

The one rule for falling back: a command runs here only when no server accepted it, so
a command is never lost and never runs twice (the handshake is in ``_run_remote``).
"""

# No `from __future__ import annotations`: every annotation here is valid at run time, and
# __future__ would be one more module to import.
import _socket
import os
import sys

# The commands worth serving: short, and none reads a terminal. Everything else (loop,
# up, top, test, bisect, --help, ...) runs in-process exactly as before.
SERVED = frozenset({"claim", "release", "heartbeat", "status", "tasks"})
PROTOCOL = b"HS1\0"  # the request's magic; a new request format gets a new one
ACK_SECONDS = 5.0  # a server that has not read our request by then is stuck: run here instead
# What sets the server's stdio encoding and buffering at its start-up: part of the key.
KEY_ENV = ("LANG", "LC_ALL", "LC_CTYPE", "PYTHONIOENCODING", "PYTHONUTF8", "PYTHONUNBUFFERED")
CLIENT_PID_ENV = "HARNESS_CLIENT_PID"  # "<client pid>:<served child pid>", set only in the child
MAX_PATH = 100  # sun_path holds 108 bytes; keep a margin
UNKNOWN = b"error: the harness server ended before the command did; its outcome is unknown (see `harness status`)\n"


def main() -> None:
    """Console-script entry: serve the command if we can, else run the click CLI here."""
    argv = sys.argv
    if len(argv) > 1 and argv[1] in SERVED and os.environ.get("HARNESS_SERVER") != "0":
        try:
            code = _served(argv)
        except KeyboardInterrupt:  # our socket closes as we exit: the server stops the command
            os.write(2, b"interrupted\n")
            code = 130
        if code is not None:
            # Nothing of ours to clean up: skipping the interpreter's finalization saves
            # ~5-10 ms, a tenth of what the client costs.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    from harness.cli.main import main as run_here

    run_here()


def socket_path() -> str | None:
    """The server's socket for this interpreter, this package and its current sources,
    or None when there is no private folder to put it in or the path would be too long."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    folder = f"{runtime}/harness" if runtime.startswith("/") else f"/tmp/harness-{os.getuid()}"
    if not private_folder(folder):
        return None
    package = os.path.dirname(os.path.abspath(__file__))
    # The interpreter as (binary, prefix): `python` and `python3` of one venv share a server,
    # two venvs over one interpreter (or one editable package) do not.
    interpreter = [os.path.realpath(sys.executable), sys.prefix]
    parts = [*interpreter, package, str(newest_mtime_ns(package)), *(os.environ.get(k, "") for k in KEY_ENV)]
    key = fnv1a64("\0".join(parts).encode("utf-8", "surrogateescape"))
    path = f"{folder}/s-{key:016x}.sock"
    return path if len(os.fsencode(path)) < MAX_PATH else None


def private_folder(folder: str) -> bool:
    """Create the socket folder (0700) if missing; use it only if it is ours and private."""
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return False
    try:
        info = os.lstat(folder)
    except OSError:
        return False
    is_dir = info.st_mode & 0o170000 == 0o040000  # not a symlink: stat.S_ISDIR without importing stat
    return is_dir and info.st_uid == os.getuid() and info.st_mode & 0o077 == 0


def newest_mtime_ns(package: str) -> int:
    """The newest mtime of the package's sources: an edited install gets a new server."""
    newest = 0
    with os.scandir(package) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
                newest = max(newest, newest_mtime_ns(entry.path))
            elif entry.name.endswith(".py"):
                newest = max(newest, entry.stat().st_mtime_ns)
    return newest


def fnv1a64(data: bytes) -> int:
    """A short stable hash without importing hashlib (the key is not a secret)."""
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


def _served(argv: list[str]) -> int | None:
    """The command's exit code from the server, or None if no server took it."""
    path = socket_path()
    if path is None:
        return None
    conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        try:
            conn.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            start_server(path)
            return None
        except OSError:
            return None
        return _run_remote(conn, argv)
    finally:
        conn.close()


def _run_remote(conn: _socket.socket, argv: list[str]) -> int | None:
    """Send the request with our fds 0/1/2; the server answers A (read), we say G (go),
    and only then does it fork. Until we send G, nothing has run: fall back is safe."""
    fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))  # SCM_RIGHTS carries C ints
    try:
        request = encode_request(argv)
        conn.settimeout(ACK_SECONDS)
        sent = conn.sendmsg([request], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        if sent < len(request):
            conn.sendall(request[sent:])
        if conn.recv(1) != b"A":
            return None
        conn.settimeout(None)
        conn.sendall(b"G")
    except OSError:  # includes the timeout, a closed fd 0/1/2 and a cwd that is gone
        return None
    status = _recv_exactly(conn, 4)
    if len(status) != 4:
        os.write(2, UNKNOWN)
        return 1
    return int.from_bytes(status, "big")


def _recv_exactly(conn: _socket.socket, size: int) -> bytes:
    data = b""
    try:
        while len(data) < size:
            chunk = conn.recv(size - len(data))
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    return data


def encode_request(argv: list[str]) -> bytes:
    """PROTOCOL, a 4-byte length, then NUL-separated fields: pid, umask, cwd, argc, argv,
    then KEY=VALUE environment entries (none of them can hold a NUL)."""
    mask = os.umask(0o022)
    os.umask(mask)  # reading the umask means setting it; single-threaded here, so no race
    fields = [str(os.getpid()).encode(), str(mask).encode(), os.getcwdb(), str(len(argv)).encode()]
    fields += [os.fsencode(arg) for arg in argv]
    fields += [key + b"=" + value for key, value in os.environb.items()]
    body = b"\0".join(fields)
    return PROTOCOL + len(body).to_bytes(4, "big") + body


def start_server(path: str) -> None:
    """Start the server detached, for the next commands; this one runs here meanwhile.
    Its working directory is the folder holding this package, so ``-m`` imports this very
    package even when the caller's directory holds another ``harness``."""
    import contextlib
    import subprocess

    home = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with contextlib.suppress(OSError):
        subprocess.Popen(
            [sys.executable, "-m", "harness.cliserver", path],
            cwd=home,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
