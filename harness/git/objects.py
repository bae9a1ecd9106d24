"""Git objects read and written in-process, for the claim hot path.

A claim reads a few trees and blobs and writes one blob, two trees and a commit. Doing
that with one git process per object costs more than the push itself (measured: ~15
processes per claim), so reads go through one long-lived ``git cat-file --batch`` and
writes produce loose objects directly, in exactly the format git writes them
(``zlib("<type> <size>\\0" + body)`` under ``objects/xx/yyyy…``). ``git fsck --strict`` in
the tests checks what we write. SHA-1 repositories only (git's default).
"""

from __future__ import annotations

import binascii
import hashlib
import os
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import git
from git.objects.util import get_object_type_by_name

TREE_MODE = "040000"  # as ls-tree prints it; the object format drops the leading zero


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    kind: str
    sha: str


def tree_entries(tree: git.Tree) -> dict[str, TreeEntry]:
    """One tree level, by name."""
    entries: dict[str, TreeEntry] = {}
    for item in tree:
        kind = "commit" if item.type == "submodule" else item.type  # a gitlink names a commit
        entries[item.name] = TreeEntry(TREE_MODE if kind == "tree" else f"{item.mode:o}", kind, item.hexsha)
    return entries


def serialize_tree(entries: Mapping[str, TreeEntry]) -> bytes:
    # git orders entries bytewise by name, comparing a tree's name as if it ended in "/".
    def order(item: tuple[str, TreeEntry]) -> bytes:
        name = item[0].encode("utf-8", errors="surrogateescape")
        return name + b"/" if item[1].kind == "tree" else name

    out = bytearray()
    for name, entry in sorted(entries.items(), key=order):
        out += f"{entry.mode.lstrip('0')} ".encode() + name.encode("utf-8", errors="surrogateescape")
        out += b"\0" + bytes.fromhex(entry.sha)
    return bytes(out)


def write_loose_object(objects_dir: Path, kind: str, body: bytes) -> str:
    raw = f"{kind} {len(body)}\0".encode() + body
    sha = hashlib.sha1(raw).hexdigest()
    target = objects_dir / sha[:2] / sha[2:]
    if not target.exists():
        target.parent.mkdir(exist_ok=True)
        tmp = target.parent / f"tmp_obj_{os.getpid()}_{time.monotonic_ns()}"
        tmp.write_bytes(zlib.compress(raw, 1))
        tmp.chmod(0o444)
        os.replace(tmp, target)  # atomic: readers never see half an object
    return sha


def commit_body(tree: str, parents: list[str], message: str, env: Mapping[str, str]) -> bytes | None:
    """The commit object's body, or None when the identity is not fully given in ``env``."""
    try:
        author = _signature(env, "AUTHOR")
        committer = _signature(env, "COMMITTER")
    except KeyError:
        return None
    lines = [f"tree {tree}", *(f"parent {p}" for p in parents), f"author {author}", f"committer {committer}"]
    text = "\n".join(lines) + "\n\n" + message
    return text.encode() if text.endswith("\n") else (text + "\n").encode()


def _signature(env: Mapping[str, str], who: str) -> str:
    name, email = env[f"GIT_{who}_NAME"], env[f"GIT_{who}_EMAIL"]
    date = env.get(f"GIT_{who}_DATE", "")
    if date.startswith("@"):
        stamp = date[1:] if " " in date else f"{date[1:]} +0000"
    elif not date:
        stamp = f"{int(time.time())} +0000"
    else:
        raise KeyError(date)  # another date format: let git parse it
    return f"{name} <{email}> {stamp}"


class ObjectReader:
    """GitPython's persistent ``git cat-file`` readers for one repository, answering with typed
    objects (``git.Commit``, ``git.Tree``, ``git.Blob``) whose contents load on first use.

    Names are resolved afresh on every call (cat-file re-reads refs), so a ref moved by
    another process since the reader started is seen at its new value.
    """

    def __init__(self, path: Path, env: Mapping[str, str]) -> None:
        self._path = path
        self._env = dict(env)
        self._repo: git.Repo | None = None

    def repo(self) -> git.Repo:
        if self._repo is None:
            repo = git.Repo(self._path, odbt=git.GitCmdObjectDB)
            repo.git.update_environment(**self._env)
            self._repo = repo
        return self._repo

    def object(self, name: str) -> git.Object | None:
        """The object ``name`` (any rev syntax) names, or None when there is none."""
        repo = self.repo()
        try:
            hexsha, kind, _ = repo.git.get_object_header(name)
        except ValueError:
            return None
        except OSError:  # the reader died: start afresh next time
            self.close()
            return None
        # Typed str, but GitPython hands the header's fields over as bytes.
        kind_name = kind if isinstance(kind, bytes) else kind.encode()
        binsha = binascii.a2b_hex(hexsha)
        if kind_name == b"tree":  # a tree lists itself only when it knows its mode and path
            return git.Tree(repo, binsha, mode=git.Tree.tree_id << 12, path=name.partition(":")[2])
        return get_object_type_by_name(kind_name)(repo, binsha)

    def commit(self, name: str) -> git.Commit | None:
        found = self.object(f"{name}^{{commit}}")
        return found if isinstance(found, git.Commit) else None

    def tree(self, name: str) -> git.Tree | None:
        """The tree ``name`` names: ``rev:path``, or a commit's or tree's own (``rev``)."""
        found = self.object(name if ":" in name else f"{name}^{{tree}}")
        return found if isinstance(found, git.Tree) else None

    def blob_data(self, name: str) -> bytes | None:
        """The content of blob ``name`` (an id or ``rev:path``), or None when there is none."""
        try:  # one round trip: header and content from the same reader
            _, kind, _, stream = self.repo().git.stream_object_data(name)
        except ValueError:
            return None
        except OSError:
            self.close()
            return None
        data = stream.read()  # read even when unwanted: the reader must reach the next header
        return data if kind in (b"blob", "blob") else None

    def close(self) -> None:
        if self._repo is not None:
            self._repo.close()
            self._repo = None
