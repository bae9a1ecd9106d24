"""The tip of a local upstream, read without a fetch, for clones that borrow its objects.

A clone made with ``git clone --shared`` (as ``harness up --runtime local`` makes them)
lists the upstream's object directory in ``objects/info/alternates``: every object the
upstream has is readable in the clone the moment the upstream has it. For such a clone,
"fetch main" only has to answer "which commit is main now?", and the upstream's ref file
answers that in microseconds. A ``git fetch`` (upload-pack, negotiation, unpacking, a
connectivity walk) took 16–100 ms in the fleet benchmark, most of it inside the push slot
that every other agent was queueing for.

Anything unexpected (no alternates, a symbolic or unreadable ref, an empty upstream) makes
these functions answer None, and callers fetch as before: the direct read is an
optimisation, never a second source of truth. Git updates a ref only after the pushed
objects are in the upstream's object store, so a tip read here is always readable.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.git.repo import GitRepo

_SHA = re.compile(r"[0-9a-f]{40}")


def local_upstream_path(repo: GitRepo) -> Path | None:
    """The upstream's git directory when ``origin`` is a bare repository on this machine (a
    path, relative to the clone or absolute, or a file:// URL); None for a remote upstream,
    a clone without ``origin``, or an ``origin`` that is not a bare repository.

    The one answer to "is the upstream local?": the push slot, the direct tip read, the
    gate's and the history's baselines and ``harness up`` all ask it here.
    """
    return repo.local_origin()


def borrowed_upstream(repo: GitRepo) -> Path | None:
    """The local upstream whose object store this clone borrows (alternates), else None."""
    upstream = local_upstream_path(repo)
    if upstream is None:
        return None
    try:
        lines = (repo.objects_dir / "info" / "alternates").read_text().splitlines()
    except OSError:
        return None
    wanted = (upstream / "objects").resolve()
    borrowed = {Path(line).resolve() for line in lines if line.strip() and not line.startswith("#")}
    return upstream if wanted in borrowed else None


def read_branch(git_dir: Path, branch: str) -> str | None:
    """``refs/heads/<branch>`` of the repository at ``git_dir``, loose first then packed
    (git's own order: a loose ref overrides the packed one), or None if it cannot tell."""
    name = f"refs/heads/{branch}"
    try:
        loose = (git_dir / name).read_text().strip()
    except FileNotFoundError:
        return _packed_ref(git_dir / "packed-refs", name)
    except OSError:
        return None
    return loose if _SHA.fullmatch(loose) else None  # "ref: …" (symbolic) or torn: let git say


def _packed_ref(path: Path, name: str) -> str | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        sha, _, ref = line.partition(" ")
        if ref == name and _SHA.fullmatch(sha):
            return sha
    return None


def direct_tip(repo: GitRepo, branch: str) -> str | None:
    """Upstream ``branch``'s tip read from its ref file when this clone borrows the
    upstream's objects; None means "fetch instead"."""
    upstream = borrowed_upstream(repo)
    return read_branch(upstream, branch) if upstream is not None else None
