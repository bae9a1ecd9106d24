"""Git objects read and written in-process, for the claim hot path.

A claim reads a few trees and blobs and writes one blob, two trees and a commit. Doing
that with one git process per object costs more than the push itself (measured: ~15
processes per claim), so reads go through one long-lived ``git cat-file --batch`` and
writes produce loose objects directly, in exactly the format git writes them
(``zlib("<type> <size>\\0" + body)`` under ``objects/xx/yyyy…``). ``git fsck --strict`` in
the tests checks what we write. SHA-1 repositories only (git's default).
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
    mode: str
    kind: str
    sha: str


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


def commit_parents(body: bytes) -> list[str]:
    """The parent ids a commit object's header names, in order."""
    header = body.split(b"\n\n", 1)[0]
    return [line[7:].decode() for line in header.splitlines() if line.startswith(b"parent ")]


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

    def read(self, name: str) -> tuple[str, bytes] | None:
        """(type, body) of the object ``name`` (any rev syntax), or None when missing."""
        found = self.lookup(name)
        return (found[1], found[2]) if found is not None else None

    def lookup(self, name: str) -> tuple[str, str, bytes] | None:
        """(object id, type, body) of ``name`` (any rev syntax), or None when missing.

        Names are resolved afresh on every call (git re-reads refs), so a ref moved by
        another process since the reader started is seen at its new value.
        """
        proc = self._process()
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(name.encode("utf-8", errors="surrogateescape") + b"\n")
        proc.stdin.flush()
        header = proc.stdout.readline().split()
        if len(header) != 3 or header[1] not in (b"blob", b"tree", b"commit", b"tag"):
            if not header:
                self.close()
            return None
        size = int(header[2])
        body = proc.stdout.read(size + 1)[:size]
        return header[0].decode(), header[1].decode(), body

    def close(self) -> None:
        if self._proc is not None:
            if self._proc.stdin:
                self._proc.stdin.close()
            if self._proc.stdout:
                self._proc.stdout.close()
            self._proc.wait()
            self._proc = None
