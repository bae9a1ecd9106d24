"""Git objects read and written in-process, for the claim hot path.

A claim reads a few trees and blobs and writes one blob, two trees and a commit. Doing
that with one git process per object costs more than the push itself (measured: ~15
processes per claim), so reads go through one long-lived ``git cat-file --batch`` and
writes produce loose objects directly, in exactly the format git writes them
(``zlib("<type> <size>\\0" + body)`` under ``objects/xx/yyyy…``). ``git fsck --strict`` in
the tests checks what we write. SHA-1 repositories only (git's default).

What is read comes back typed: a ``Commit``, a ``Tree`` or a ``Blob``. GitPython's reader
and objects were measured in their place and left out (docs/git.md, "Reading objects").
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TREE_MODE = "040000"  # as ls-tree prints it; the object format drops the leading zero


@dataclass(frozen=True)
class TreeEntry:
    mode: str  # as ls-tree prints it: "100644", "100755", "120000", "040000", "160000"
    kind: str  # "blob", "tree" or "commit" (a submodule)
    sha: str


@dataclass(frozen=True)
class Blob:
    sha: str
    data: bytes


@dataclass(frozen=True)
class Tree:
    sha: str
    entries: Mapping[str, TreeEntry]  # one level, by name


@dataclass(frozen=True)
class Commit:
    sha: str
    tree: str
    parents: tuple[str, ...]


GitObject = Commit | Tree | Blob


def parse_tree(data: bytes) -> dict[str, TreeEntry]:
    entries: dict[str, TreeEntry] = {}
    pos = 0
    while pos < len(data):
        space = data.index(b" ", pos)
        nul = data.index(b"\0", space)
        mode = data[pos:space].decode()
        name = data[space + 1 : nul].decode("utf-8", errors="surrogateescape")
        sha = data[nul + 1 : nul + 21].hex()
        kind = "tree" if mode == "40000" else "commit" if mode == "160000" else "blob"
        entries[name] = TreeEntry(TREE_MODE if kind == "tree" else mode, kind, sha)
        pos = nul + 21
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


def parse_commit(sha: str, body: bytes) -> Commit:
    """The tree and parents a commit object's header names (the rest is not needed here)."""
    header = body.split(b"\n\n", 1)[0].splitlines()
    tree = next((line[5:].decode() for line in header if line.startswith(b"tree ")), "")
    return Commit(sha, tree, tuple(line[7:].decode() for line in header if line.startswith(b"parent ")))


def typed(sha: str, kind: bytes, body: bytes) -> GitObject | None:
    """The object of one ``cat-file --batch`` answer; None for a tag (names peel with ``^{…}``)."""
    if kind == b"blob":
        return Blob(sha, body)
    if kind == b"tree":
        return Tree(sha, parse_tree(body))
    if kind == b"commit":
        return parse_commit(sha, body)
    return None


def parse_batch(output: bytes, count: int) -> list[GitObject | None]:
    """The ``count`` answers of one whole ``git cat-file --batch`` run, in request order
    (None where the name was missing or ambiguous: a shallow or partial clone)."""
    found: list[GitObject | None] = []
    pos = 0
    for _ in range(count):
        end = output.index(b"\n", pos)
        header = output[pos:end].split()
        pos = end + 1
        if len(header) != 3:  # "<name> missing" or "<name> ambiguous"
            found.append(None)
            continue
        size = int(header[2])
        found.append(typed(header[0].decode(), header[1], output[pos : pos + size]))
        pos += size + 1
    return found


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


class BatchReader:
    """One ``git cat-file --batch`` process answering many object reads over a pipe."""

    def __init__(self, cwd: Path, env: Mapping[str, str]) -> None:
        self._cwd = cwd
        self._env = dict(env)
        self._proc: subprocess.Popen[bytes] | None = None

    def _process(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                ["git", "cat-file", "--batch"],
                cwd=self._cwd,
                env=self._env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        return self._proc

    def object(self, name: str) -> GitObject | None:
        """The object ``name`` (any rev syntax) names, or None when there is none.

        Names are resolved afresh on every call (git re-reads refs), so a ref moved by
        another process since the reader started is seen at its new value.
        """
        proc = self._process()
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(name.encode("utf-8", errors="surrogateescape") + b"\n")
        proc.stdin.flush()
        header = proc.stdout.readline().split()
        if len(header) != 3:
            if not header:  # the process ended: start a new one next time
                self.close()
            return None
        size = int(header[2])
        body = proc.stdout.read(size + 1)[:size]
        return typed(header[0].decode(), header[1], body)

    def commit(self, name: str) -> Commit | None:
        found = self.object(f"{name}^{{commit}}")
        return found if isinstance(found, Commit) else None

    def tree(self, name: str) -> Tree | None:
        """The tree ``name`` names: ``rev:path``, or a commit's own (``rev``)."""
        found = self.object(name if ":" in name else f"{name}^{{tree}}")
        if isinstance(found, Commit):  # a path naming a submodule's commit, present here
            found = self.object(found.tree)
        return found if isinstance(found, Tree) else None

    def blob(self, name: str) -> Blob | None:
        """The blob ``name`` (an id or ``rev:path``) names, or None."""
        found = self.object(name)
        return found if isinstance(found, Blob) else None

    def close(self) -> None:
        if self._proc is not None:
            if self._proc.stdin:
                self._proc.stdin.close()
            if self._proc.stdout:
                self._proc.stdout.close()
            self._proc.wait()
            self._proc = None
