"""Heartbeats on per-agent refs, and the staleness rule for reclaiming a lock.

A heartbeat is a tiny parentless commit force-pushed to ``refs/harness/heartbeats/<agent>``:
one ref per agent, so heartbeats never contend with ``main`` or with each other.

Staleness (invariant 4): the holder's last sign of life is the later of its lock's
``claimed_at`` and its heartbeat, both read off the *holder's* clock. We call a lock stale
only when our clock is past that moment by lease + grace + the configured skew allowance,
so a holder whose clock runs behind ours by up to the allowance is never reclaimed early.
A stamp further ahead of our clock than the allowance is no sign of life at all: a lock
stamped ``9999-12-31`` would otherwise be held forever.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from harness import retry
from harness.config import LockSettings
from harness.git.publish import push_with_network_retry
from harness.git.repo import GitRepo, identity_env
from harness.locks.lockfile import Lock, utc_iso

HEARTBEAT_PREFIX = "refs/harness/heartbeats"
SEEN_PREFIX = "refs/harness/seen-heartbeats"


def heartbeat_ref(agent: str) -> str:
    return f"{HEARTBEAT_PREFIX}/{agent}"


def push_heartbeat(repo: GitRepo, agent: str, now: float) -> str:
    env = {**identity_env(agent), "GIT_COMMITTER_DATE": f"@{int(now)} +0000", "GIT_AUTHOR_DATE": f"@{int(now)} +0000"}
    empty_tree = repo.tree_with_changes(None, {})
    commit = repo.commit_tree(empty_tree, [], f"heartbeat: {agent}\n", env)
    push_with_network_retry(repo, commit, heartbeat_ref(agent), force=True)
    return commit


def fetch_heartbeats(repo: GitRepo) -> dict[str, int]:
    """Last heartbeat time (holder's clock, unix seconds) of every agent, by agent id."""
    retry.run(retry.upstream_network(), lambda: repo.fetch("--prune", f"+{HEARTBEAT_PREFIX}/*:{SEEN_PREFIX}/*"))
    return repo.ref_dates(SEEN_PREFIX)


@dataclass(frozen=True, kw_only=True)
class Liveness:
    last_alive: float  # holder's clock
    heartbeat: float | None
    age: float  # by our clock, may be negative when clocks disagree
    stale: bool
    stale_after: float  # seconds of silence that make the lock stale
    # A stamp (claimed_at, heartbeat) later than our clock plus the skew allowance: not
    # evidence of life. A lock with no other sign of life is stale, never "alive forever".
    future: str = ""


def liveness(lock: Lock, heartbeats: Mapping[str, int], settings: LockSettings, now: float) -> Liveness:
    beat = heartbeats.get(lock.agent)
    horizon = now + settings.clock_skew_seconds
    stamps = {"claimed_at": lock.claimed_at, **({"heartbeat": float(beat)} if beat is not None else {})}
    plausible = [moment for moment in stamps.values() if moment <= horizon]
    ahead = [f"{name} {utc_iso(moment)} is {moment - now:.0f} s" for name, moment in stamps.items() if moment > horizon]
    last_alive = max(plausible) if plausible else lock.claimed_at
    lease = lock.lease_seconds or settings.lease_seconds
    stale_after = float(lease + settings.grace_seconds + settings.clock_skew_seconds)
    age = now - last_alive
    future = ""
    if ahead:
        future = (
            f"{', '.join(ahead)} ahead of our clock, beyond the {settings.clock_skew_seconds} s clock-skew "
            "allowance; not counted as a sign of life"
        )
    return Liveness(
        last_alive=last_alive,
        heartbeat=float(beat) if beat is not None else None,
        age=age,
        stale=not plausible or age > stale_after,
        stale_after=stale_after,
        future=future,
    )
