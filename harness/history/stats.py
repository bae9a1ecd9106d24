"""Numbers from a ``History``: what ``harness history --json`` prints and the report plots.

Definitions (docs/history.md has the reasoning):
- ``claims``: lock files added; ``reclaims``: stale locks taken over (``Harness-Reclaims:``).
- ``releases``: locks deleted one by one; ``swept``: locks deleted by a sweep commit.
- ``hold_seconds``: over every hold that ended (release, sweep or reclaim) in the window;
  median is the middle value (mean of the two middles for an even count), p90 the
  nearest-rank 90th percentile (the smallest value with at least 90 % at or below it).
- ``max_open``: most lock files present at once, after any commit in the window.
- ``repeat_claims``: claims of a task name that had been claimed before.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.config import LockSettings
from harness.history.holds import History, Hold
from harness.locks.lockfile import utc_iso


@dataclass(frozen=True)
class Window:
    since: int | None  # unix seconds; None = the whole history
    now: float

    def holds(self, t: int | None) -> bool:
        return t is not None and (self.since is None or t >= self.since)


def summary(values: Iterable[int]) -> dict[str, Any]:
    """count, median, p90, max and mean of durations in seconds (None when empty)."""
    data = sorted(values)
    if not data:
        return {"count": 0, "median": None, "p90": None, "max": None, "mean": None}
    return {
        "count": len(data),
        "median": statistics.median(data),
        "p90": data[math.ceil(0.9 * len(data)) - 1],
        "max": data[-1],
        "mean": round(statistics.fmean(data), 1),
    }


def history_stats(
    history: History,
    window: Window,
    settings: LockSettings,
    heartbeats: Mapping[str, int] | None = None,
    loop: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    started = [h for h in history.holds if window.holds(h.start)]
    ended = [h for h in history.holds if window.holds(h.end)]
    max_open, max_at = _max_open(history.open_series, window.since)
    open_now = [_open_row(h, window.now, settings, heartbeats or {}) for h in history.open_holds]
    repeats, most = _repeat_claims(history.holds, window)
    span = _span_hours(history, window)
    return {
        "rev": history.rev,
        "commits": history.commits,
        "since": utc_iso(window.since) if window.since is not None else None,
        "first": utc_iso(history.first_time) if history.first_time is not None else None,
        "last": utc_iso(history.last_time) if history.last_time is not None else None,
        "claims": sum(1 for h in started if not h.reclaim),
        "reclaims": sum(1 for h in started if h.reclaim),
        "releases": sum(1 for h in ended if h.ended_by == "release"),
        "swept": sum(1 for h in ended if h.ended_by == "sweep"),
        "sweeps": sum(1 for s in history.sweeps if window.holds(s.time)),
        "fenced": sum(1 for h in ended if h.ended_by == "reclaim"),
        "updates": sum(h.updates for h in started),
        "outcomes": dict(Counter(h.outcome for h in ended if h.outcome).most_common()),
        "hold_seconds": summary(h.seconds for h in ended if h.seconds is not None),
        "hold_seconds_by_end": {
            how: summary(h.seconds for h in ended if h.ended_by == how and h.seconds is not None)
            for how in ("release", "sweep", "reclaim")
        },
        "max_open": max_open,
        "max_open_at": utc_iso(max_at) if max_at is not None else None,
        "open_now": open_now,
        "stale_now": sum(1 for row in open_now if row["stale"]),
        "repeat_claims": repeats,
        "most_claimed": most,
        "unmatched_releases": history.unmatched_releases,
        "hours": span,
        "agents": _groups(started, ended, lambda h: h.agent, span),
        "roles": _groups(started, ended, lambda h: h.role, span),
        "loop": dict(loop) if loop else None,
    }


def _max_open(series: list[tuple[int, int]], since: int | None) -> tuple[int, int | None]:
    best, best_at = 0, None
    carried = 0  # locks already open when the window starts count too
    for t, count in series:
        if since is not None and t < since:
            carried = count
            continue
        if count > best:
            best, best_at = count, t
    if carried > best and since is not None:
        return carried, since
    return best, best_at


def _open_row(hold: Hold, now: float, settings: LockSettings, beats: Mapping[str, int]) -> dict[str, Any]:
    beat = beats.get(hold.agent)
    last_alive = max(hold.start, beat) if beat is not None else hold.start
    lease = hold.lease_seconds or settings.lease_seconds
    stale_after = lease + settings.grace_seconds + settings.clock_skew_seconds
    return {
        "task": hold.task,
        "path": hold.path,
        "agent": hold.agent,
        "role": hold.role,
        "since": utc_iso(hold.start),
        "age_seconds": round(now - hold.start),
        "silent_seconds": round(now - last_alive),
        "stale_after_seconds": stale_after,
        "stale": now - last_alive > stale_after,
    }


def _repeat_claims(holds: list[Hold], window: Window) -> tuple[int, list[dict[str, Any]]]:
    seen: set[str] = set()
    repeats = 0
    counts: Counter[str] = Counter()
    for hold in holds:
        if hold.reclaim:
            continue
        if window.holds(hold.start):
            counts[hold.task] += 1
            repeats += hold.task in seen
        seen.add(hold.task)
    most = [{"task": t, "claims": n} for t, n in counts.most_common(10) if n > 1]
    return repeats, most


def _span_hours(history: History, window: Window) -> float | None:
    if history.first_time is None or history.last_time is None:
        return None
    start = max(history.first_time, window.since) if window.since is not None else history.first_time
    hours = (history.last_time - start) / 3600
    return round(hours, 3) if hours > 0 else None


def _groups(started: list[Hold], ended: list[Hold], key: Any, hours: float | None) -> list[dict[str, Any]]:
    # One pass to bucket the holds by agent (or role): thousands of holds, dozens of names.
    by_started: dict[str, list[Hold]] = {}
    by_ended: dict[str, list[Hold]] = {}
    for hold in started:
        by_started.setdefault(key(hold), []).append(hold)
    for hold in ended:
        by_ended.setdefault(key(hold), []).append(hold)
    rows = []
    for name in sorted(by_started.keys() | by_ended.keys()):
        mine_started = by_started.get(name, [])
        mine_ended = by_ended.get(name, [])
        released = [h for h in mine_ended if h.ended_by == "release"]
        done = sum(1 for h in released if h.outcome == "done")
        rows.append(
            {
                "name": name,
                "claims": sum(1 for h in mine_started if not h.reclaim),
                "reclaims": sum(1 for h in mine_started if h.reclaim),
                "releases": len(released),
                "done": done,
                "abandoned": sum(1 for h in released if h.outcome == "abandoned"),
                "refused": sum(1 for h in released if h.outcome == "refused"),
                "swept": sum(1 for h in mine_ended if h.ended_by == "sweep"),
                "fenced": sum(1 for h in mine_ended if h.ended_by == "reclaim"),
                "hold_median": summary(h.seconds for h in mine_ended if h.seconds is not None)["median"],
                "held_seconds": sum(h.seconds or 0 for h in mine_ended),
                "releases_per_hour": round(len(released) / hours, 3) if hours else None,
            }
        )
    rows.sort(key=lambda r: (-r["releases"], -r["claims"], r["name"]))
    return rows
