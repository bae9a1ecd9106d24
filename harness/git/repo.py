"""Every git operation harness performs goes through this module.

One choke point, ``GitRepo.run``, starts git with a cleaned environment and turns a
failure into a ``GitError`` naming the command, its exit code and its stderr. Objects are
read over one long-lived ``git cat-file --batch`` and written as loose objects
(``objects.py``). There is no git library: GitPython was measured in the object reader's
place and cost more than the rule allowed (docs/git.md, "Reading objects").
"""

from __future__ import annotations

import os
import re
import subprocess
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TypeVar, cast

from harness.errors import GitError, HarnessError, UpstreamUnreachable
from harness.git.objects import (
    BatchReader,
    Blob,
    Commit,
    TreeEntry,
    commit_body,
    parse_batch,
    serialize_tree,
    write_loose_object,
)

T = TypeVar("T")
ZERO_SHA = "0" * 40
_PARSED_MAX = 20_000  # remembered parses per repository (locks and specs are small)
# Variables that point git at another repository or index (set, e.g., inside hooks) or
# inject configuration; a child git must never inherit them by accident.
_KEEP_GIT_VARS = frozenset({"GIT_SSH", "GIT_SSH_COMMAND", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_GLOBAL"})
# The gate's pre-receive hook says this when the ref moved under a push (DESIGN: it
# exits early then); for the pusher that is a lost race, exactly like a non-fast-forward.
REF_MOVED = "moved while this push was on its way"
_LOST_RACE = re.compile(
    r"\[rejected\]|non-fast-forward|fetch first|failed to update ref|cannot lock ref|but expected|"
    + re.escape(REF_MOVED)
)
_UNREACHABLE = re.compile(
    r"does not appear to be a git repository|Could not read from remote|"
    r"unable to access|Connection refused|Could not resolve host|"
    r"not a git repository|No such file or directory|unable to connect",
    re.IGNORECASE,
)


# What ``GitRepo.run`` returns, for callers that type it without importing subprocess.
GitResult = subprocess.CompletedProcess[bytes]


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for child git processes: inherited, minus stray GIT_* state."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_") or key in _KEEP_GIT_VARS}
    env.update(
        {
            "LC_ALL": "C",
            "LANGUAGE": "C",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_PAGER": "cat",
            "GIT_EDITOR": "true",
            "GIT_MERGE_AUTOEDIT": "no",
        }
    )
    if extra:
        env.update(extra)
    return env


def identity_env(agent: str) -> dict[str, str]:
    """Author and committer of harness's own commits: the agent, traceably."""
    email = f"{agent}@harness.invalid"
    return {
        "GIT_AUTHOR_NAME": agent,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": agent,
        "GIT_COMMITTER_EMAIL": email,
    }


class PushStatus(Enum):
    OK = "ok"
    REJECTED = "rejected"  # not a fast-forward: someone pushed first
    REFUSED = "refused"  # a hook on the upstream declined it


@dataclass(frozen=True)
class PushResult:
    status: PushStatus
    remote_lines: tuple[str, ...] = ()


class GitRepo:
    """A working clone (or bare repository) at ``path`` whose ``origin`` is the upstream."""

    def __init__(self, path: Path, env: Mapping[str, str] | None = None) -> None:
        self.path = path
        self._env = clean_env(env)
        self._reader = BatchReader(path, self._env)
        self._objects_dir: Path | None = None
        self._git_dir: Path | None = None
        self._origin_url: str | bool | None = False  # False: not looked up yet
        self._parsed: dict[tuple[str, str, object], object] = {}
        weakref.finalize(self, self._reader.close)

    def origin_url(self) -> str | None:
        """The ``origin`` remote's URL (looked up once), or None without one."""
        if self._origin_url is False:
            proc = self.run("remote", "get-url", "origin", check=False)
            self._origin_url = proc.stdout.decode().strip() if proc.returncode == 0 else None
        return self._origin_url if isinstance(self._origin_url, str) else None

    def close(self) -> None:
        """Stop the object reader (it restarts on demand)."""
        self._reader.close()

    @property
    def git_dir(self) -> Path:
        """The repository's git directory (asked of git once)."""
        if self._git_dir is None:
            self._git_dir = Path(self.out("rev-parse", "--absolute-git-dir"))
        return self._git_dir

    @property
    def objects_dir(self) -> Path:
        if self._objects_dir is None:
            override = self._env.get("GIT_OBJECT_DIRECTORY")
            if override:
                self._objects_dir = Path(override)
            elif (self.path / ".git" / "objects").is_dir():
                self._objects_dir = self.path / ".git" / "objects"
            else:
                self._objects_dir = Path(self.out("rev-parse", "--path-format=absolute", "--git-path", "objects"))
        return self._objects_dir

    def run(
        self,
        *args: str,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``git args`` in this repository; raise GitError on failure when ``check``."""
        full_env = {**self._env, **env} if env else self._env
        try:
            proc = subprocess.run(
                ["git", *args],
                cwd=self.path,
                input=stdin,
                capture_output=True,
                env=full_env,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise HarnessError(f"`git {' '.join(args)}` timed out after {timeout} s") from exc
        except FileNotFoundError as exc:
            raise HarnessError(f"cannot run git in {self.path}: {exc.strerror}") from exc
        if check and proc.returncode != 0:
            raise GitError(list(args), proc.returncode, proc.stderr.decode(errors="replace"))
        return proc

    def out(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        return self.run(*args, env=env).stdout.decode().strip()

    # -- reading --------------------------------------------------------------

    def rev_parse(self, rev: str) -> str | None:
        """The commit ``rev`` names, or None; asked of the object reader, not a new process."""
        found = self._reader.commit(rev)
        return found.sha if found is not None else None

    def parsed_blob(self, sha: str, label: str, parse: Callable[[str, bytes], T]) -> T:
        """``parse(label, content)`` of blob ``sha``, remembered for this repository's life.

        A blob never changes, so neither does its parse: a long-running loop re-reads the
        tip's locks and specs on every claim but parses only the ones that are new.
        Exceptions are not remembered.
        """
        key = (sha, label, parse)
        if key not in self._parsed:
            blob = self._reader.blob(sha)
            content = blob.data if blob is not None else b""
            if len(self._parsed) >= _PARSED_MAX:
                self._parsed.clear()  # bounded; a full re-parse costs less than a leak
            self._parsed[key] = parse(label, content)
        return cast(T, self._parsed[key])

    def ls_tree(self, treeish: str) -> dict[str, TreeEntry]:
        """Entries of one tree level (``rev:path`` syntax); empty when it does not exist."""
        tree = self._reader.tree(treeish)
        return dict(tree.entries) if tree is not None else {}

    def read_blobs(self, rev: str, paths: Iterable[str]) -> dict[str, bytes | None]:
        """Contents of files at ``rev`` (None when absent), over one cat-file process."""
        result: dict[str, bytes | None] = {}
        for path in dict.fromkeys(paths):
            blob = self._reader.blob(f"{rev}:{path}")
            result[path] = blob.data if blob is not None else None
        return result

    def blobs_by_id(self, blobs: Iterable[str]) -> dict[str, bytes]:
        """Contents of many blobs by id, missing ones left out (a shallow or partial clone).

        One ``git cat-file --batch`` given every id at once: for thousands of blobs (a long
        lock history) a pipelined run costs much less than a round trip per blob.
        """
        wanted = list(dict.fromkeys(blobs))
        if not wanted:
            return {}
        output = self.run("cat-file", "--batch", stdin="".join(f"{b}\n" for b in wanted).encode()).stdout
        found = parse_batch(output, len(wanted))
        return {blob: obj.data for blob, obj in zip(wanted, found, strict=True) if isinstance(obj, Blob)}

    def commits_between(self, base: str, head: str) -> int:
        """``git rev-list --count base..head``.

        The common cases, a few commits straight on top of ``base`` (an agent's work on the
        tip it started from) or ``head`` a few commits behind ``base`` (work the loop pushed
        under a release commit), are counted by walking parents over the object reader;
        merges, long or diverged histories fall back to ``rev-list``.
        """
        base_sha, head_sha = self.rev_parse(base), self.rev_parse(head)
        walked = None
        if base_sha and head_sha:
            walked = self._linear_distance(base_sha, head_sha)
            if walked is None and self._linear_distance(head_sha, base_sha, limit=8) is not None:
                walked = 0  # head is an ancestor of base
        return walked if walked is not None else int(self.out("rev-list", "--count", f"{base}..{head}"))

    def _linear_distance(self, base: str, head: str, limit: int = 32) -> int | None:
        current = head
        for steps in range(limit + 1):
            if current == base:
                return steps
            commit = self._reader.object(current)
            if not isinstance(commit, Commit) or len(commit.parents) != 1:
                return None  # unreadable, a merge or the root: let rev-list count
            current = commit.parents[0]
        return None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return self.run("merge-base", "--is-ancestor", ancestor, descendant, check=False).returncode == 0

    # -- writing objects ---------------------------------------------------------

    def hash_blob(self, content: bytes) -> str:
        return write_loose_object(self.objects_dir, "blob", content)

    def tree_with_changes(self, base_tree: str | None, changes: Mapping[str, bytes | None]) -> str:
        """A new tree: ``base_tree`` with files written (bytes) or deleted (None)."""
        tree = self._edit_tree(base_tree, changes)
        return tree if tree is not None else self._mktree({})

    def _edit_tree(self, tree: str | None, changes: Mapping[str, bytes | None]) -> str | None:
        entries = dict(self.ls_tree(tree)) if tree else {}
        subdirs: dict[str, dict[str, bytes | None]] = {}
        for path, content in changes.items():
            head, sep, rest = path.partition("/")
            if sep:
                subdirs.setdefault(head, {})[rest] = content
            elif content is None:
                entries.pop(head, None)
            else:
                entries[head] = TreeEntry("100644", "blob", self.hash_blob(content))
        for name, sub_changes in subdirs.items():
            old = entries.get(name)
            old_sha = old.sha if old is not None and old.kind == "tree" else None
            new_sha = self._edit_tree(old_sha, sub_changes)
            if new_sha is None:
                entries.pop(name, None)
            else:
                entries[name] = TreeEntry("040000", "tree", new_sha)
        return self._mktree(entries) if entries else None

    def _mktree(self, entries: Mapping[str, TreeEntry]) -> str:
        return write_loose_object(self.objects_dir, "tree", serialize_tree(entries))

    def commit_tree(self, tree: str, parents: Iterable[str], message: str, env: Mapping[str, str]) -> str:
        parents = list(parents)
        body = commit_body(tree, parents, message, {**self._env, **env})
        if body is not None:
            return write_loose_object(self.objects_dir, "commit", body)
        args = ["commit-tree", tree]  # an identity or date only git can parse
        for parent in parents:
            args += ["-p", parent]
        return self.run(*args, stdin=message.encode(), env=env).stdout.decode().strip()

    def commit_changes(
        self, parent: str | None, changes: Mapping[str, bytes | None], message: str, env: Mapping[str, str]
    ) -> str:
        """A commit on ``parent`` applying ``changes``, made without touching the worktree."""
        base_tree = f"{parent}^{{tree}}" if parent else None
        tree = self.tree_with_changes(base_tree, changes)
        return self.commit_tree(tree, [parent] if parent else [], message, env)

    # -- talking to the upstream -----------------------------------------------

    def fetch(self, *refspecs: str) -> None:
        proc = self.run("fetch", "--quiet", "--no-tags", "origin", *refspecs, check=False)
        if proc.returncode != 0:
            _raise_remote_failure(["fetch", "origin", *refspecs], proc)

    def push(self, src: str, dst: str, force: bool = False, timeout: float | None = None) -> PushResult:
        refspec = f"{'+' if force else ''}{src}:{dst}"
        proc = self.run("push", "--porcelain", "origin", refspec, check=False, timeout=timeout)
        if proc.returncode == 0:
            return PushResult(PushStatus.OK)
        text = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
        remote = tuple(
            line.removeprefix("remote: ").rstrip()
            for line in text.splitlines()
            if line.startswith("remote: ") and line.removeprefix("remote: ").strip()
        )
        # A concurrent update of the same ref (receive-pack's ref lock, or "is at X but
        # expected Y") is a lost race like a non-fast-forward, not a refusal.
        if _LOST_RACE.search(text):
            return PushResult(PushStatus.REJECTED, remote)
        if "[remote rejected]" in text or "hook declined" in text:
            return PushResult(PushStatus.REFUSED, remote)
        _raise_remote_failure(["push", "origin", refspec], proc)
        raise AssertionError("unreachable")

    def remote_ref(self, ref: str) -> str | None:
        proc = self.run("ls-remote", "origin", ref, check=False)
        if proc.returncode != 0:
            _raise_remote_failure(["ls-remote", "origin", ref], proc)
        for line in proc.stdout.decode().splitlines():
            sha, name = line.split("\t", 1)
            if name == ref:
                return sha
        return None

    def ref_dates(self, prefix: str) -> dict[str, int]:
        """Committer dates (unix seconds) of the refs under ``prefix``, by short name."""
        text = self.out("for-each-ref", "--format=%(refname)\t%(committerdate:unix)", prefix)
        dates: dict[str, int] = {}
        for line in text.splitlines():
            name, _, date = line.partition("\t")
            if date.strip():
                dates[name.removeprefix(prefix.rstrip("/") + "/")] = int(date)
        return dates


def _raise_remote_failure(argv: list[str], proc: subprocess.CompletedProcess[bytes]) -> None:
    stderr = proc.stderr.decode(errors="replace")
    if _UNREACHABLE.search(stderr):
        error = GitError(argv, proc.returncode, stderr)
        raise UpstreamUnreachable(f"upstream unreachable: {error}")
    raise GitError(argv, proc.returncode, stderr)


def init_bare(path: Path, initial_branch: str = "main") -> None:
    """Create a bare repository (and the folders leading to it)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HarnessError(f"{path}: cannot create its folder: {exc.strerror}; pass another path") from exc
    GitRepo(path.parent).run("init", "--quiet", "--bare", f"--initial-branch={initial_branch}", str(path))
