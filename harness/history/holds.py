"""Events and holds from the lock history of first-parent ``main`` (``harness history``).

Every change under ``current_tasks/`` is an event: a file added is a *claim*, a file deleted a
*release*, a file edited in place an *update* — or a *reclaim* when the commit carries our
``Harness-Reclaims:`` trailer (the old holder is then fenced). A commit that deletes
``SWEEP_MIN`` or more locks at once is a *sweep*: a cleanup, not a holder letting go.
A *hold* is one holder's tenure of one lock file, from its claim (or reclaim) to the release,
sweep or reclaim that ended it. The holder is whoever the lock content names, else the
``Harness-Agent:`` trailer, else the commit author. Times are committer dates of the commits
on main, so every duration comes from one clock family (the machines that committed), never
from comparing another machine's lock timestamps with ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.git.repo import GitRepo
from harness.history.gitlog import LockFacts, LockFileChange, LogCommit, lock_facts, read_log
from harness.locks.lockfile import LOCK_DIR, task_of_entry
from harness.loop.events import REFUSED_NOTE

SWEEP_MIN = 3  # deletions in one (non-merge) commit that make it a sweep
_RELEASE_SUBJECT = re.compile(r"^release:\s*\S+\s*\(([\w-]+)\)")
_QUEUE_REFUSAL = re.compile(r"^queue: hand back \S+ \((refused|blocked)\)")  # harness/queue/landing.py
_ROLE_OF_AGENT = re.compile(r"^(.*?[a-z])-?\d+$")


@dataclass(kw_only=True)
class Hold:
    """One holder's tenure of one lock file."""

    path: str
    task: str
    agent: str
    role: str
    start: int
    claim_commit: str
    lease_seconds: int | None
    nonce: str | None
    reclaim: bool = False  # started by taking over a stale lock
    end: int | None = None
    end_commit: str | None = None
    ended_by: str | None = None  # "release", "sweep" or "reclaim"
    outcome: str | None = None  # release outcome: done, abandoned, released, refused
    released_by: str | None = None
    updates: int = 0

    @property
    def seconds(self) -> int | None:
        # Committer clocks may disagree by a little; a hold never lasts less than nothing.
        return None if self.end is None else max(0, self.end - self.start)


@dataclass(frozen=True)
class Sweep:
    commit: str
    time: int
    author: str
    count: int


@dataclass(kw_only=True)
class History:
    """Everything the lock history says, in commit order."""

    rev: str | None
    commits: int = 0  # commits on first-parent main that touched current_tasks/
    holds: list[Hold] = field(default_factory=list)  # in start order
    sweeps: list[Sweep] = field(default_factory=list)
    open_series: list[tuple[int, int]] = field(default_factory=list)  # (time, locks open after the commit)
    unmatched_releases: int = 0  # deletions of files the history never showed added
    first_time: int | None = None
    last_time: int | None = None

    @property
    def open_holds(self) -> list[Hold]:
        return [h for h in self.holds if h.end is None]


def role_of(agent: str, declared: str | None) -> str:
    """The lock's role, else the agent id without its number (core-dev-03 → core-dev)."""
    if declared:
        return declared
    match = _ROLE_OF_AGENT.match(agent)
    return match.group(1) if match else "-"


def load_history(repo: GitRepo, rev: str | None) -> History:
    """Read and interpret the lock history of ``rev`` (empty when the branch is unborn)."""
    if rev is None:
        return History(rev=None)
    commits = read_log(repo, rev)
    wanted = [c.blob for commit in commits for c in commit.changes if c.status != "D"]
    contents = repo.blobs_by_id(wanted)
    return build_history(rev, commits, {blob: lock_facts(data) for blob, data in contents.items()})


def build_history(rev: str | None, commits: list[LogCommit], facts: dict[str, LockFacts]) -> History:
    history = History(rev=rev, commits=len(commits))
    open_by_path: dict[str, Hold] = {}
    for commit in commits:
        _apply_commit(history, open_by_path, commit, facts)
        history.open_series.append((commit.time, len(open_by_path)))
        history.first_time = commit.time if history.first_time is None else history.first_time
        history.last_time = commit.time
    return history


def _apply_commit(
    history: History, open_by_path: dict[str, Hold], commit: LogCommit, facts: dict[str, LockFacts]
) -> None:
    deletions = [c for c in commit.changes if c.status == "D"]
    swept = commit.parents < 2 and len(deletions) >= SWEEP_MIN
    if swept:
        history.sweeps.append(Sweep(commit.sha, commit.time, commit.author, len(deletions)))
    match = _RELEASE_SUBJECT.match(commit.subject)
    outcome = match.group(1) if match else "released"
    if (outcome == "abandoned" and commit.note.startswith(REFUSED_NOTE)) or _QUEUE_REFUSAL.match(commit.subject):
        outcome = "refused"  # handed back because the gate (the loop's note) or the merge queue refused the work
    for change in deletions:
        hold = open_by_path.pop(change.path, None)
        if hold is None:
            history.unmatched_releases += 1
            continue
        _end(hold, commit, "sweep" if swept else "release")
        hold.outcome = "swept" if swept else outcome
        hold.released_by = commit.trailer("Harness-Agent") or commit.author
    for change in commit.changes:
        if change.status == "A":
            hold = _start(commit, change, facts.get(change.blob))
            open_by_path[change.path] = hold
            history.holds.append(hold)
        elif change.status == "M":
            _edit(history, open_by_path, commit, change, facts.get(change.blob))


def _edit(
    history: History, open_by_path: dict[str, Hold], commit: LogCommit, change: LockFileChange, facts: LockFacts | None
) -> None:
    current = open_by_path.get(change.path)
    if commit.trailer("Harness-Reclaims") is None and current is not None:
        current.updates += 1  # an in-place status edit: same holder, same tenure
        return
    if current is not None:
        _end(current, commit, "reclaim")
    hold = _start(commit, change, facts)
    hold.reclaim = current is not None
    open_by_path[change.path] = hold
    history.holds.append(hold)


def _start(commit: LogCommit, change: LockFileChange, facts: LockFacts | None) -> Hold:
    agent = (facts.agent if facts else None) or commit.trailer("Harness-Agent") or commit.author
    name = change.path.removeprefix(f"{LOCK_DIR}/")
    return Hold(
        path=change.path,
        task=task_of_entry(name.rsplit("/", 1)[-1]),
        agent=agent,
        role=role_of(agent, facts.role if facts else None),
        start=commit.time,
        claim_commit=commit.sha,
        lease_seconds=facts.lease_seconds if facts else None,
        nonce=facts.nonce if facts else None,
    )


def _end(hold: Hold, commit: LogCommit, how: str) -> None:
    hold.end = commit.time
    hold.end_commit = commit.sha
    hold.ended_by = how
