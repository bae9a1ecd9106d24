"""Moving ``main``: landing a tested batch in one compare-and-swap, and handing refused work back.

The runner lives with the upstream and updates ``refs/heads/main`` with ``git update-ref NEW
OLD``: git moves the ref only if it still points at OLD, so a claim pushed meanwhile is never
overwritten. When main moved only by lock and spec commits (claims, hand-backs: nothing the
tests see), the tested batch is re-applied on the new tip and swapped again without another
suite run; anything else moving main means the batch is tested again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from harness.errors import HarnessError
from harness.gate.baseline import BaselineStore
from harness.git.repo import GitRepo, identity_env
from harness.locks.lockfile import LOCK_DIR, lock_path
from harness.locks.snapshot import read_snapshot
from harness.queue.batch import QUEUE_AGENT, Batch, rebuild
from harness.queue.submission import REFUSED_PREFIX, Submission, stamp
from harness.tasks.specs import TASK_DIR, spec_path

Say = Callable[[str], None]
SWAP_ATTEMPTS = 50  # main moving under us this often in a row means something is wrong


def main_ref(branch: str) -> str:
    return f"refs/heads/{branch}"


def swap(repo: GitRepo, branch: str, new: str, old: str) -> bool:
    """Compare-and-swap of main; False when main is no longer at ``old``."""
    return repo.run("update-ref", main_ref(branch), new, old, check=False).returncode == 0


def only_bookkeeping(repo: GitRepo, old: str, new: str) -> bool:
    """True when the trees of ``old`` and ``new`` differ only in locks and task specs (``old``
    may be a batch head that was re-applied, so no ancestry is asked)."""
    raw = repo.run("diff-tree", "-r", "-z", "--no-renames", "--name-only", old, new).stdout
    paths = [p for p in raw.decode(errors="replace").split("\0") if p]
    return all(p.startswith((f"{LOCK_DIR}/", f"{TASK_DIR}/")) for p in paths)


@dataclass(frozen=True)
class Landed:
    tip: str
    batch: Batch


def land(repo: GitRepo, branch: str, batch: Batch, baselines: BaselineStore) -> Landed | None:
    """Swap main to the batch head (re-applied over bookkeeping commits as needed); None
    when main moved by code, so the batch must be tested again."""
    for _ in range(SWAP_ATTEMPTS):
        if swap(repo, branch, batch.head, batch.base):
            return Landed(batch.head, batch)
        current = repo.rev_parse(main_ref(branch))
        if current is None or not only_bookkeeping(repo, batch.base, current):
            return None
        tested = batch.head
        batch = rebuild(repo, current, batch)
        if batch.rejected:  # a member was fenced or conflicts with the new bookkeeping
            return None
        inherit_baseline(baselines, tested, batch.head)
    raise HarnessError(f"main moved {SWAP_ATTEMPTS} times while landing a batch; is something pushing in a loop?")


def inherit_baseline(baselines: BaselineStore, tested: str, landed: str) -> None:
    """The landed tip's tests are the tested head's: only locks and specs differ."""
    found = baselines.load(tested)
    if found is not None and found.tip != landed:
        baselines.save(replace(found, tip=landed))


def drop_refs(repo: GitRepo, subs: Sequence[Submission]) -> None:
    """Delete landed or refused submissions' refs, unless the agent replaced one meanwhile."""
    for sub in subs:
        repo.run("update-ref", "-d", sub.ref, sub.commit, check=False)


def keep_refused(repo: GitRepo, sub: Submission) -> str:
    """The refused work on a fresh side ref (nothing an agent made is lost)."""
    ref = f"{REFUSED_PREFIX}{sub.agent}/{sub.task}-{stamp()}-{sub.short}"
    repo.run("update-ref", ref, sub.commit)
    return ref


def hand_back(
    repo: GitRepo, branch: str, sub: Submission, lines: Sequence[str], max_attempts: int, counts: bool
) -> str:
    """Delete the task's lock on main (if it is still the submission's) and, for a spec'd
    task whose refusal ``counts``, record the attempt and its ERROR lines (blocked at
    ``max_attempts``). Returns the task's new status."""
    for _ in range(SWAP_ATTEMPTS):
        tip = repo.rev_parse(main_ref(branch))
        snap = read_snapshot(repo, tip)
        entry = snap.entries.get(sub.task)
        if tip is None or entry is None or entry.lock is None or entry.lock.nonce != sub.nonce:
            return "fenced"  # someone else holds it now (or it was already handed back)
        files: dict[str, bytes | None] = {lock_path(sub.task): None}
        spec = snap.specs.get(sub.task)
        status = "open"
        if spec is not None and counts:
            spec = spec.refused(lines, max_attempts)
            status = spec.status
            files[spec_path(sub.task)] = spec.to_yaml()
        body = "\n".join(lines[:20])
        message = (
            f"queue: hand back {sub.task} ({'blocked' if status == 'blocked' else 'refused'})\n\n{body}\n\n"
            f"Harness-Agent: {sub.agent}\nHarness-Nonce: {sub.nonce}\nHarness-Landed-By: {QUEUE_AGENT}\n"
        )
        commit = repo.commit_changes(tip, files, message, identity_env(QUEUE_AGENT))
        if swap(repo, branch, commit, tip):
            return status
    raise HarnessError(f"could not hand {sub.task} back: main kept moving")
