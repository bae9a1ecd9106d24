"""Optimistic publication of a small change to upstream ``main``.

The pattern under every claim, lock-only release and task-spec edit: fetch the tip,
decide the change from what the tip holds, commit it on the tip without touching the
worktree, push (never force). A rejected push means someone else won the race for the
tip: fetch again and decide again, under the ``push_race`` policy. The decision
callback can raise (LockHeld, NotClaimable, …) to stop, which is how a racer learns it lost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from harness import retry
from harness.errors import ConfigError, GateRefused, GitError
from harness.git.pushslot import push_slot
from harness.git.repo import GitRepo, PushStatus, identity_env
from harness.git.upstream import direct_tip, local_upstream_path

REMOTE_MAIN = "refs/remotes/origin/main"


@dataclass(frozen=True)
class Change:
    """Files to write (bytes) or delete (None), and the commit message."""

    files: Mapping[str, bytes | None]
    message: str


@dataclass(frozen=True)
class Published:
    commit: str  # our commit, now reachable from upstream main
    parent: str | None


def fetch_main(repo: GitRepo, branch: str = "main") -> str | None:
    """Bring upstream ``branch`` into origin/main; its sha.

    A clone that borrows a local upstream's objects reads the tip from the upstream's ref
    file (upstreamref.py) and only moves origin/main; any other clone fetches, under the
    network policy.
    """
    tip = direct_tip(repo, branch)
    if tip is not None:
        if repo.rev_parse(REMOTE_MAIN) != tip:
            repo.run("update-ref", REMOTE_MAIN, tip)
        return tip
    try:
        retry.run(retry.upstream_network(), lambda: repo.fetch(f"+refs/heads/{branch}:{REMOTE_MAIN}"))
    except GitError as exc:
        if "couldn't find remote ref" not in exc.stderr:
            raise
        raise ConfigError(
            f"harness.yaml: branch: the upstream has no branch {branch!r}; set branch: to one it has "
            f"(usually main), or push {branch} to the upstream first"
        ) from exc
    return repo.rev_parse(REMOTE_MAIN)


def note_pushed_tip(repo: GitRepo, commit: str) -> None:
    """Our commit is the upstream tip now: make origin/main say so without another fetch.

    A push to ``main`` already moved origin/main (git updates the remote-tracking ref of
    the ref it pushed); only another branch name needs the extra ``update-ref``.
    """
    if repo.rev_parse(REMOTE_MAIN) != commit:
        repo.run("update-ref", REMOTE_MAIN, commit)


def push_with_network_retry(repo: GitRepo, src: str, dst: str, force: bool = False) -> PushStatus:
    # A push to a local upstream runs detached (spawn.py): whoever kills us must not kill
    # its receive-pack half-way through the ref update.
    detach = local_upstream_path(repo) is not None
    result = retry.run(retry.upstream_network(), lambda: repo.push(src, dst, force=force, detach=detach))
    if result.status is PushStatus.REFUSED:
        detail = "; ".join(result.remote_lines[-8:]) or "no reason given"
        raise GateRefused(f"upstream refused the push to {dst}: {detail}")
    return result.status


def publish(
    repo: GitRepo,
    agent: str,
    decide: Callable[[str | None], Change | None],
    branch: str = "main",
    deadline: float = retry.PUSH_RACE_DEADLINE_SECONDS,
    first_tip: str | None = None,
) -> Published | None:
    """Apply ``decide(tip)``'s change on top of upstream ``branch``; None if no change.

    Retries on lost push races until ``deadline``; exceptions from ``decide`` propagate.
    ``first_tip``, a tip the caller has just fetched, saves the first attempt's fetch.
    """
    env = identity_env(agent)
    known = [first_tip] if first_tip else []

    def attempt() -> Published | None:
        with push_slot(repo) as turn:
            if turn.waited:
                known.clear()  # someone pushed while we waited: the caller's tip is likely stale
            return _attempt()

    def _attempt() -> Published | None:
        tip = known.pop() if known else fetch_main(repo, branch)
        change = decide(tip)
        if change is None:
            return None
        commit = repo.commit_changes(tip, change.files, change.message, env)
        status = push_with_network_retry(repo, commit, f"refs/heads/{branch}")
        if status is PushStatus.REJECTED:
            raise retry.PushRaceLost(f"push of {commit[:12]} to {branch} lost a race")
        note_pushed_tip(repo, commit)
        return Published(commit, tip)

    return retry.run(retry.push_race(deadline), attempt)
