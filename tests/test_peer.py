"""Peer snapshots of a directory (the local form): work files in, symlinks, .git and secrets out, read-only."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from harness.runtime.peer import MAX_FILE_BYTES, excluded, filter_snapshot, peer_directories
from tests.conftest import WorkRepo, run_harness

WORK_FILES = {"src/main.c": "int main(){}\n", "notes/progress.md": "half done\n", "README.md": "readme\n"}
SECRETS = [
    ".env",
    ".env.local",
    "config/prod.env",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    "credentials",
    "gcp-credentials.json",
    "deploy/id_ed25519",
    "tls/server.key",
    ".ssh/config",
    ".aws/credentials",
    ".config/gh/hosts.yml",
    ".claude/settings.json",
    "node_modules/x/index.js",
]


def make_source(root: Path) -> None:
    for rel, text in {**WORK_FILES, **dict.fromkeys(SECRETS, "SECRET\n")}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "link-to-passwd").symlink_to("/etc/passwd")
    (root / "src" / "link-to-readme").symlink_to("../README.md")
    (root / "big.bin").write_bytes(b"0" * (MAX_FILE_BYTES + 1))


def all_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir() or p.is_symlink()}


def test_snapshot_holds_work_files_and_nothing_excluded(work: WorkRepo, tmp_path: Path) -> None:
    source = work.clone("core-dev-01")
    target = work.clone("critic-01")
    make_source(source)  # uncommitted work, as an agent leaves it mid-task
    result = peer_directories(source, target, "core-dev-01")
    copy = target / ".shared" / "core-dev-01"
    files = all_files(copy)
    committed = {"harness.yaml", ".gitignore", "current_tasks/README.md", "tasks/README.md"}
    assert set(WORK_FILES) | committed <= files
    assert not any(s in files for s in SECRETS)
    assert not any(f.startswith(".git/") for f in files) and "big.bin" not in files
    assert not any(p.is_symlink() for p in copy.rglob("*"))
    assert (copy / "src/main.c").read_text() == WORK_FILES["src/main.c"]
    assert all((p.stat().st_mode & 0o222) == 0 for p in copy.rglob("*") if p.is_file())
    assert result.files == len(files)
    assert any(s.startswith("link-to-passwd:") for s in result.skipped)


def test_a_second_peer_replaces_the_copy(work: WorkRepo) -> None:
    source, target = work.clone("a"), work.clone("b")
    (source / "gone.txt").write_text("soon deleted\n")
    peer_directories(source, target, "a")
    (source / "gone.txt").unlink()
    peer_directories(source, target, "a")
    assert not (target / ".shared" / "a" / "gone.txt").exists()


@pytest.mark.parametrize("path", [".ENV", "sub/.Env.production", "x/.shared/y", "a/.git/objects/ab/cd", ".gnupg/k"])
def test_excluded_paths(path: str) -> None:
    assert excluded(path) is not None


@pytest.mark.parametrize("path", ["env.py", "src/environment.c", "docs/credentials-howto.md", "keys.txt"])
def test_ordinary_paths_pass(path: str) -> None:
    assert excluded(path) is None


def test_hostile_archive_members_are_dropped() -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name in ("workspace/ok.txt", "workspace/../escape.txt", "workspace/hard"):
            info = tarfile.TarInfo(name)
            if name.endswith("hard"):
                info.type, info.linkname = tarfile.LNKTYPE, "workspace/ok.txt"
                tar.addfile(info)
            else:
                info.size = 2
                tar.addfile(info, io.BytesIO(b"hi"))
    raw.seek(0)
    data, result = filter_snapshot(raw, "src")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
    assert names == ["src", "src/ok.txt"] and len(result.skipped) == 2


def test_peer_command_between_directories(work: WorkRepo) -> None:
    source, target = work.clone("core-dev-02"), work.clone("docs-01")
    make_source(source)
    proc = run_harness("peer", str(source), "--into", str(target), cwd=work.base)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("copied ") and (target / ".shared" / "core-dev-02" / "src" / "main.c").exists()
