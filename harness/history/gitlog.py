"""Read the lock history of first-parent ``main`` out of git, in two processes.

One ``git log --first-parent --raw -z`` limited to ``current_tasks/`` lists every commit that
changed a lock file, with the blob ids of what changed; one ``git cat-file --batch``
(``GitRepo.blobs_by_id``) then reads the contents of every added or edited lock (to learn
who held it). Parsing is plain Python over bytes: a history of 10,000 lock commits costs a
small multiple of the git log itself (benchmarks/history.py). Nothing here assumes harness wrote the history: any file
under ``current_tasks/`` (free-form ``.txt``, other extensions) is a lock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.git.repo import ZERO_SHA, GitRepo
from harness.locks.lockfile import LOCK_DIR

README = f"{LOCK_DIR}/README.md"
# Each commit starts with \x1e (never in a subject line), then NUL-separated: hash, parents,
# author name, committer date, subject, trailers (unfolded, one per line), the body (its first
# line is a release's note: "push refused" marks a refused hold), and the raw changes.
_FORMAT = "%x1e%H%x00%P%x00%an%x00%ct%x00%s%x00%(trailers:only,unfold)%x00%b%x00"


@dataclass(frozen=True)
class LockFileChange:
    """One file under current_tasks/ that a commit added (A), edited (M) or deleted (D)."""

    status: str  # "A", "M" or "D"
    path: str
    blob: str  # the new content (A, M) or the removed content (D)


@dataclass(frozen=True, kw_only=True)
class LogCommit:
    sha: str
    parents: int
    author: str
    time: int  # committer date, unix seconds: when the commit was made on its way to main
    subject: str
    trailers: dict[str, list[str]]
    changes: list[LockFileChange] = field(default_factory=list)
    note: str = ""  # the body's first line

    def trailer(self, key: str) -> str | None:
        values = self.trailers.get(key.lower())
        return values[-1] if values else None


def log_argv(rev: str) -> list[str]:
    """The one git log both ``read_log`` and the benchmark's baseline run."""
    return [
        "log",
        "--first-parent",
        "--reverse",
        "--root",
        # A merge on main is shown as what it changed relative to main before it.
        "--diff-merges=first-parent",
        "--raw",
        "-z",
        "--no-renames",
        "--no-abbrev",
        f"--format={_FORMAT}",
        rev,
        "--",
        f"{LOCK_DIR}/",
    ]


def read_log(repo: GitRepo, rev: str) -> list[LogCommit]:
    """Every first-parent commit of ``rev`` that touched current_tasks/, oldest first."""
    # One decode of the whole output is much cheaper than one per field.
    text = repo.run(*log_argv(rev)).stdout.decode("utf-8", "surrogateescape")
    return [commit for commit in map(_parse_record, text.split("\x1e")[1:]) if commit is not None]


def _parse_record(record: str) -> LogCommit | None:
    parts = record.split("\0")
    if len(parts) < 8:
        return None
    sha, parents, author, ctime, subject, trailers, body = parts[:7]
    changes = _parse_raw(parts[7:])
    return LogCommit(
        sha=sha,
        parents=parents.count(" ") + 1 if parents else 0,
        author=author,
        time=int(ctime),
        subject=subject,
        trailers=_parse_trailers(trailers),
        changes=changes,
        note=next((line.strip() for line in body.splitlines() if line.strip()), ""),
    )


def _parse_raw(tokens: list[str]) -> list[LockFileChange]:
    """``:oldmode newmode oldsha newsha status`` then the path, as -z tokens."""
    changes: list[LockFileChange] = []
    meta: list[str] | None = None
    for token in tokens:
        if meta is None:
            token = token.lstrip("\n")
            if token.startswith(":"):
                meta = token[1:].split()
            continue
        path, fields = token, meta
        meta = None
        if path == README or len(fields) < 5 or fields[0] == "160000" or fields[1] == "160000":
            continue  # the README, or a submodule: not a lock file
        status = fields[4][0]
        if status in "AMDT":
            blob = fields[2] if status == "D" else fields[3]
            if blob != ZERO_SHA:
                changes.append(LockFileChange("M" if status == "T" else status, path, blob))
    return changes


def _parse_trailers(text: str) -> dict[str, list[str]]:
    trailers: dict[str, list[str]] = {}
    if not text:
        return trailers
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            trailers.setdefault(key.strip().lower(), []).append(value.strip())
    return trailers


# -- what a lock file says, whatever wrote it ---------------------------------------------

_KEYS = ("agent", "owner", "holder", "claimed_by", "locked_by", "author", "by", "role", "nonce", "lease_seconds")
# Only the keys we use are matched: a regex pass, not a Python loop over every line.
_FIELD = re.compile(
    rb"^[ \t]*(" + b"|".join(k.encode() for k in _KEYS) + rb")[ \t]*[:=][ \t]*(.*?)[ \t]*$",
    re.MULTILINE | re.IGNORECASE,
)
_BY = re.compile(rb"\b(?:claimed|locked|taken|held|owned|reserved)\s+by\s*:?\s*@?([\w][\w.@-]*)", re.IGNORECASE)
_AGENT_KEYS = (b"agent", b"owner", b"holder", b"claimed_by", b"locked_by", b"author", b"by")


@dataclass(frozen=True)
class LockFacts:
    """What a lock file's content tells, from harness YAML or free-form text."""

    agent: str | None
    role: str | None
    nonce: str | None
    lease_seconds: int | None


def lock_facts(content: bytes) -> LockFacts:
    """Key-value lines (``agent: x``, ``owner = y``) or prose ("claimed by z")."""
    fields: dict[bytes, str] = {}
    for match in _FIELD.finditer(content[:4096]):
        key = match.group(1).lower()
        if key not in fields:
            fields[key] = _unquote(match.group(2).decode("utf-8", "replace"))
    agent = next((fields[k] for k in _AGENT_KEYS if fields.get(k)), None)
    if agent is None:
        found = _BY.search(content[:4096])
        agent = found.group(1).decode("utf-8", "replace") if found else None
    lease = fields.get(b"lease_seconds", "")
    return LockFacts(
        agent=agent.split()[0] if agent else None,
        role=fields.get(b"role") or None,
        nonce=fields.get(b"nonce") or None,
        lease_seconds=int(lease) if lease.isdigit() else None,
    )


def _unquote(value: str) -> str:
    value = value.split(" #", 1)[0].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value.strip()
