"""An upstream out of space or unwritable is an error (exit 1) that says so, not a gate
refusal (exit 6): the upstream lives on a small tmpfs this test mounts (needs root)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.initrepo import init_work_repo
from tests.conftest import WorkRepo, assert_one_line_error, git, run_harness


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True, check=False).returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    point = tmp_path / "disk"
    point.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(point)):
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield point
    finally:
        _mount("-o", "remount,rw", str(point))
        subprocess.run(["umount", "-l", str(point)], check=False)


@pytest.fixture
def on_small_disk(tmp_path: Path, small_disk: Path) -> WorkRepo:
    result = init_work_repo(tmp_path / "work", upstream=small_disk / "up.git")
    return WorkRepo(tmp_path, result.upstream, result.clone)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass
    return filler


def test_a_full_upstream_disk_is_an_error_with_the_reason_not_a_refusal(
    on_small_disk: WorkRepo, small_disk: Path
) -> None:
    work = on_small_disk
    filler = fill(small_disk)
    proc = run_harness("claim", "t1", "--agent", "a1", cwd=work.first_clone)
    assert_one_line_error(proc, 1, "could not store the push", "No space left on device")
    assert work.upstream_file("current_tasks/t1.lock") is None
    filler.unlink()  # space again: the same claim goes through
    proc = run_harness("claim", "t1", "--agent", "a1", cwd=work.first_clone)
    assert proc.returncode == 0, proc.stderr


def test_a_read_only_upstream_is_an_error_with_the_reason_not_a_refusal(
    on_small_disk: WorkRepo, small_disk: Path
) -> None:
    work = on_small_disk
    assert run_harness("claim", "t1", "--agent", "a1", cwd=work.first_clone).returncode == 0
    (work.first_clone / "w.txt").write_text("work\n")
    git(work.first_clone, "add", "w.txt")
    git(work.first_clone, "commit", "-qm", "work")
    assert _mount("-o", "remount,ro", str(small_disk))
    proc = run_harness("release", "t1", "--done", "--agent", "a1", cwd=work.first_clone)
    assert_one_line_error(proc, 1, "could not store the push")
    proc = run_harness("claim", "t2", "--agent", "a1", cwd=work.first_clone)
    assert_one_line_error(proc, 1, "could not store the push")
    assert _mount("-o", "remount,rw", str(small_disk))
    proc = run_harness("release", "t1", "--done", "--agent", "a1", cwd=work.first_clone)
    assert proc.returncode == 0, proc.stderr
    assert work.upstream_file("w.txt") == "work\n"
