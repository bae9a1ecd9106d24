"""Every git operation harness performs goes through this module.

One choke point, ``GitRepo.run``, starts git with a cleaned environment and turns a
failure into a ``GitError`` naming the command, its exit code and its stderr. Objects are
read over one long-lived ``git cat-file --batch`` and written as loose objects
(``objects.py``). There is no git library: GitPython was measured in the object reader's
place and cost more than the rule allowed (docs/git.md, "Reading objects").
A git lock file left by a killed git process is settled here too (stalelocks.py), so every
caller recovers from it.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar, cast

from harness.errors import GitError, HarnessError
from harness.git import stalelocks
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
from harness.git.remote import REF_MOVED, PushResult, PushStatus, push_outcome, raise_remote_failure
from harness.git.spawn import GitResult, spawn_git

T = TypeVar("T")
ZERO_SHA = "0" * 40
__all__ = ["REF_MOVED", "ZERO_SHA", "GitRepo", "GitResult", "PushResult", "PushStatus", "clean_env", "identity_env"]
_LOCK_RERUNS = 8  # commands re-run after a lock in their way was settled (each lock is settled once)
_PARSED_MAX = 20_000  # remembered parses per repository (locks and specs are small)
# Variables that point git at another repository or index (set, e.g., inside hooks) or
# inject configuration; a child git must never inherit them by accident.
_KEEP_GIT_VARS = frozenset({"GIT_SSH", "GIT_SSH_COMMAND", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_GLOBAL"})


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
        detach: bool = False,
    ) -> GitResult:
        """Run ``git args`` in this repository; raise GitError on failure when ``check``.

        A git lock file in the way, in this repository or the local upstream, is settled
        (stalelocks.py: waited for, removed once stale) and the command run again: git takes
        its locks before it changes anything, so a command that failed on one did nothing.
        ``detach``: git runs in a process group of its own (spawn.py), for pushes.
        """
        full_env = {**self._env, **env} if env else self._env
        deadline = time.monotonic() + stalelocks.WAIT_SECONDS
        for _ in range(_LOCK_RERUNS):
            proc = spawn_git(list(args), self.path, full_env, stdin, timeout, detach)
            lock = stalelocks.reported_lock(proc.stderr.decode(errors="replace")) if proc.returncode else None
            if lock is None or not self.owns_lock(lock):
                break
            held = stalelocks.settle(lock, deadline)
            if held:
                proc.stderr += f"\nfatal: {held}\n".encode()
                break
        if check and proc.returncode != 0:
            raise GitError(list(args), proc.returncode, proc.stderr.decode(errors="replace"))
        return proc

    def owns_lock(self, lock: Path) -> bool:
        """Whether ``lock`` lies in this repository or in its local upstream: the only places
        where harness may decide a git lock file is stale."""
        places = [self.git_dir, self.local_origin()]
        return any(place is not None and lock.resolve().is_relative_to(place.resolve()) for place in places)

    def local_origin(self) -> Path | None:
        """The upstream's git directory when ``origin`` is a bare repository on this machine (a
        path, relative to the clone or absolute, or a file:// URL); None for a remote upstream,
        a clone without ``origin``, or an ``origin`` that is not a bare repository."""
        url = self.origin_url()
        if not url:
            return None
        url = url.removeprefix("file://")
        if "://" in url:
            return None
        path = Path(url) if Path(url).is_absolute() else self.path / url
        return path if (path / "HEAD").is_file() else None

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

    def _edit_tree(self, tree: str | None, changes: Mapping[str, bytes | None], prefix: str = "") -> str | None:
        entries = dict(self.ls_tree(tree)) if tree else {}
        subdirs: dict[str, dict[str, bytes | None]] = {}
        for path, content in changes.items():
            head, sep, rest = path.partition("/")
            if sep:
                subdirs.setdefault(head, {})[rest] = content
                continue
            _refuse_replacing(entries.get(head), "blob", prefix + head)
            if content is None:
                entries.pop(head, None)
            else:
                entries[head] = TreeEntry("100644", "blob", self.hash_blob(content))
        for name, sub_changes in subdirs.items():
            old = entries.get(name)
            _refuse_replacing(old, "tree", prefix + name)
            new_sha = self._edit_tree(old.sha if old is not None else None, sub_changes, f"{prefix}{name}/")
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
            raise_remote_failure(["fetch", "origin", *refspecs], proc)

    def push(
        self, src: str, dst: str, force: bool = False, timeout: float | None = None, detach: bool = False
    ) -> PushResult:
        """Push without asking git to retry; ``detach`` for a local upstream (spawn.py)."""
        return self.push_atomic(((src, dst, force),), timeout=timeout, detach=detach)

    def push_atomic(
        self, refspecs: Sequence[tuple[str, str, bool]], timeout: float | None = None, detach: bool = False
    ) -> PushResult:
        """Push (src, dst, force) refspecs all or none: one outcome for the lot."""
        atomic = ["--atomic"] if len(refspecs) > 1 else []
        specs = [f"{'+' if force else ''}{src}:{dst}" for src, dst, force in refspecs]
        argv = ["push", "--porcelain", *atomic, "origin", *specs]
        proc = self.run(*argv, check=False, timeout=timeout, detach=detach)
        lock = stalelocks.reported_lock(proc.stderr.decode(errors="replace"))
        return push_outcome(argv, proc, lock_is_ours=lock is not None and self.owns_lock(lock))

    def remote_ref(self, ref: str) -> str | None:
        proc = self.run("ls-remote", "origin", ref, check=False)
        if proc.returncode != 0:
            raise_remote_failure(["ls-remote", "origin", ref], proc)
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


def _refuse_replacing(entry: TreeEntry | None, kind: str, path: str) -> None:
    """harness writes and deletes plain files only: never a directory, a symlink or a submodule
    someone else put where it meant to write (a claim once replaced ``current_tasks/x.lock/``)."""
    if entry is not None and (entry.kind != kind or entry.mode == "120000"):
        what = {"tree": "a directory", "commit": "a submodule"}.get(entry.kind, "a file")
        what = "a symbolic link" if entry.mode == "120000" else what
        raise HarnessError(f"{path} is {what} upstream; harness will not replace it: move it away in a commit")


def init_bare(path: Path, initial_branch: str = "main") -> None:
    """Create a bare repository (and the folders leading to it)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HarnessError(f"{path}: cannot create its folder: {exc.strerror}; pass another path") from exc
    GitRepo(path.parent).run("init", "--quiet", "--bare", f"--initial-branch={initial_branch}", str(path))
