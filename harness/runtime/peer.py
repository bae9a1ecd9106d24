"""``harness peer``: a read-only, filtered snapshot of one agent's workspace for another agent.

A critic or docs agent reads work in progress (uncommitted files included) under
``.shared/<source>/`` of its own workspace. It is a copy, so there is no write path back;
the copy is owned by root and read-only inside the container. What is never copied:

- anything that is not a regular file or directory: no symlinks (they could point at the
  target's own secrets or outside the snapshot), no hard links, devices or fifos;
- ``.git`` entirely (objects, and a config that may hold credentials in a remote URL), and
  ``.shared`` (no peers of peers);
- secrets: ``.env*``, ``.netrc``, ``.npmrc``, ``.pypirc``, ``.git-credentials``, credentials
  files, private keys, and per-tool config dirs (``.ssh``, ``.aws``, ``.config``, ``.claude`` …);
- bulk that is rebuilt anyway (``node_modules``, ``.venv``, ``__pycache__``), and files over
  ``MAX_FILE_BYTES``; the whole snapshot stops at ``MAX_TOTAL_BYTES``.

The filter works on tar streams, so the Docker runtime (``get_archive``/``put_archive``) and
plain directories (the local runtime's clones) share it.
"""

from __future__ import annotations

import fnmatch
import io
import re
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from harness.errors import UsageError

SHARED_DIR = ".shared"
MAX_FILE_BYTES = 2 * 1024**2
MAX_TOTAL_BYTES = 64 * 1024**2
EXCLUDED_DIRS = frozenset(
    {
        ".git",
        SHARED_DIR,
        ".ssh",
        ".aws",
        ".azure",
        ".gnupg",
        ".docker",
        ".kube",
        ".config",
        ".claude",
        ".codex",
        ".gemini",
        ".aider.tags.cache.v3",
        ".local",
        ".cache",
        "node_modules",
        ".venv",
        "__pycache__",
    }
)
EXCLUDED_FILES = (
    ".env",
    ".env.*",
    "*.env",
    ".netrc",
    "_netrc",
    ".npmrc",
    ".pypirc",
    ".yarnrc",
    ".yarnrc.yml",
    ".git-credentials",
    ".gitconfig",
    ".claude.json",
    ".aider.conf.yml",
    "credentials",
    "credentials.*",
    "*credentials*.json",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "*.kdbx",
)
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class PeerResult:
    source: str
    files: int = 0
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)  # "path: why", for the user


def excluded(path: str) -> str | None:
    """Why ``path`` (relative, '/'-separated) stays out of a snapshot; None when it may go in."""
    parts = path.split("/")
    for part in parts[:-1]:
        if part in EXCLUDED_DIRS:
            return f"inside {part}/"
    name = parts[-1]
    if name in EXCLUDED_DIRS:
        return f"{name}/ is excluded"
    if any(fnmatch.fnmatchcase(name.lower(), pattern) for pattern in EXCLUDED_FILES):
        return "secret"
    return None


def filter_snapshot(source_tar: IO[bytes], source: str, owner: int = 0) -> tuple[bytes, PeerResult]:
    """Read a tar of a workspace (one top-level dir) and write the filtered copy under ``source/``."""
    if not _SAFE_NAME.match(source):
        raise UsageError(f"peer: {source!r} is not an agent id")
    result = PeerResult(source)
    out = io.BytesIO()
    with tarfile.open(fileobj=source_tar, mode="r|*") as src, tarfile.open(fileobj=out, mode="w") as dst:
        dst.addfile(_dir_info(source, owner))
        for member in src:
            rel = _relative(member.name)
            if not rel:
                continue
            why = _skip_reason(member, rel, result.bytes)
            if why:
                result.skipped.append(f"{rel}: {why}")
                continue
            if member.isdir():
                dst.addfile(_dir_info(f"{source}/{rel}", owner))
                continue
            data = src.extractfile(member)
            info = tarfile.TarInfo(f"{source}/{rel}")
            info.size, info.mode, info.mtime = member.size, 0o444, int(member.mtime)
            info.uid = info.gid = owner
            dst.addfile(info, data)
            result.files += 1
            result.bytes += member.size
    return out.getvalue(), result


def _skip_reason(member: tarfile.TarInfo, rel: str, total: int) -> str | None:
    if not (member.isfile() or member.isdir()):
        return "not a regular file (symlink, link or device)"
    if any(part in ("", ".", "..") for part in rel.split("/")):
        return "unsafe path"
    why = excluded(rel)
    if why:
        return why
    if member.isfile() and member.size > MAX_FILE_BYTES:
        return f"larger than {MAX_FILE_BYTES // 1024**2} MB"
    if member.isfile() and total + member.size > MAX_TOTAL_BYTES:
        return f"snapshot would exceed {MAX_TOTAL_BYTES // 1024**2} MB"
    return None


def _relative(name: str) -> str:
    """Strip the archive's top-level directory (``workspace/`` from docker, ``./`` from us)."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return "/".join(parts[1:])


def _dir_info(name: str, owner: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    info.uid = info.gid = owner
    return info


def tar_directory(path: Path) -> io.BytesIO:
    """A tar of ``path`` as the top-level dir ``workspace/``, symlinks kept as links (the filter drops them)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(path, arcname="workspace", recursive=True)
    buffer.seek(0)
    return buffer


def peer_directories(source_dir: Path, target_dir: Path, source: str) -> PeerResult:
    """Directory form (local clones): ``source_dir`` → ``target_dir/.shared/<source>/``."""
    for label, path in (("SOURCE", source_dir), ("--into", target_dir)):
        if not path.is_dir():
            raise UsageError(f"peer: {label} {path} is not a directory")
    data, result = filter_snapshot(tar_directory(source_dir), source)
    shared = target_dir / SHARED_DIR
    shutil.rmtree(shared / source, ignore_errors=True)
    shared.mkdir(exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(shared, filter="data")
    # The "data" filter gives the owner write permission back; the copy is to be read only.
    for path in (shared / source).rglob("*"):
        if path.is_file():
            path.chmod(0o444)
    return result
