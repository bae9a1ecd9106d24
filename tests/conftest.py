"""Hermetic git for every test: a private HOME and global config, no system config, no
stray GIT_* variables; plus a work repo with a bare upstream and helpers to clone it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.initrepo import init_work_repo
from harness.workspace import Workspace, open_workspace

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def hermetic_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("home")
    config = home / ".gitconfig"
    config.write_text(
        "[user]\n\tname = Test User\n\temail = test@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
        '[protocol "file"]\n\tallow = always\n'
    )
    for key in list(os.environ):
        if key.startswith(("GIT_", "HARNESS_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    yield home


@dataclass
class WorkRepo:
    """A work repo made by `harness init`: its upstream, and a factory for agent clones."""

    base: Path
    upstream: Path
    first_clone: Path

    def clone(self, name: str, shared: bool = False) -> Path:
        """An agent's clone; ``shared`` borrows the upstream's objects, as `harness up` does."""
        target = self.base / "clones" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        git(self.base, "clone", "--quiet", *(["--shared"] if shared else []), str(self.upstream), str(target))
        return target

    def workspace(self, name: str, agent: str | None = None) -> Workspace:
        path = self.base / "clones" / name
        if not path.exists():
            self.clone(name)
        return open_workspace(path, agent or name)

    def upstream_file(self, path: str) -> str | None:
        proc = subprocess.run(
            ["git", "show", f"main:{path}"], cwd=self.upstream, capture_output=True, text=True, check=False
        )
        return proc.stdout if proc.returncode == 0 else None

    def upstream_git(self, *args: str) -> str:
        return git(self.upstream, *args)


def wait_until(check: Callable[[], bool], what: str, timeout: float = 120, every: float = 0.05) -> None:
    """Wait for a condition, never for a fixed time: the suite must pass on a loaded machine.
    The deadline is generous because it only bounds a failure, it never paces a pass.
    ``every``: the pause between looks (longer for a check that starts a process, like docker)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(every)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def commit_file(clone: Path, path: str, text: str, message: str) -> str:
    target = clone / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    git(clone, "add", path)
    git(clone, "commit", "--quiet", "-m", message)
    return git(clone, "rev-parse", "HEAD").strip()


@pytest.fixture
def work(tmp_path: Path) -> WorkRepo:
    result = init_work_repo(tmp_path / "work")
    return WorkRepo(tmp_path, result.upstream, result.clone)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory the gate's sandboxed tests may write (they run as another uid, and cannot
    enter pytest's 0700 tmp_path): for markers and witnesses a test checks afterwards."""
    path = Path(tempfile.mkdtemp(prefix="harness-shared-", dir="/tmp"))
    path.chmod(0o777)  # not sticky: files one run made, another (another uid) may replace
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A server on the host's loopback: what the gate's sandboxed tests must not reach."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    try:
        yield server
    finally:
        server.close()


def run_harness(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a child process, as a user or script would."""
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    """Invariant 8: bad input gives one line on stderr, the design's exit code, no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
