"""What ``harness history`` and ``harness report`` share: which history, which window, which events.

The history read is upstream ``main`` (fetched first) when the clone has an ``origin``; a
plain repository that harness never touched is read at its local branch, and ``--rev``
reads any commit — so a foreign fleet's history can be studied from any clone of it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, UpstreamUnreachable, UsageError
from harness.git.publish import REMOTE_MAIN, fetch_main
from harness.git.upstream import local_upstream_path
from harness.history.events import EVENTS_PATH, loop_stats, read_all
from harness.history.holds import History, load_history
from harness.history.stats import Window, history_stats
from harness.history.testpoints import BASELINE_SUBDIR, TestPoint, baseline_points
from harness.locks.heartbeats import SEEN_PREFIX, fetch_heartbeats
from harness.loop.events import EventsFile, read_events
from harness.workspace import Workspace

_RELATIVE = re.compile(r"^\s*(\d+)\s*(m|min|mins|minutes?|h|hours?|d|days?|w|weeks?)(\s+ago)?\s*$", re.IGNORECASE)
_UNIT = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: float) -> int:
    """``2026-11-22``, ``2026-11-22T14:05Z``, ``3d``, ``12 hours ago`` → unix seconds."""
    match = _RELATIVE.match(text)
    if match:
        unit = match.group(2).lower()
        return int(now) - int(match.group(1)) * _UNIT[unit[0]]
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(
            f"--since {text!r}: use a date like 2026-11-22 or 2026-11-22T14:05Z, or an age like 3d, 12h, 90m"
        ) from exc
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


@dataclass(frozen=True, kw_only=True)
class HistoryResult:
    history: History
    stats: dict[str, Any]
    events: EventsFile | None  # None: no events file
    notes: list[str]
    since: int | None = None  # the window's start, unix seconds
    tests: list[TestPoint] = field(default_factory=list)  # from the gate's baselines


def _has_origin(ws: Workspace) -> bool:
    return ws.repo.run("remote", "get-url", "origin", check=False).returncode == 0


def resolve_rev(ws: Workspace, rev: str | None) -> tuple[str | None, list[str]]:
    """The commit whose history to read, and notes on how it was chosen."""
    if rev is not None:
        sha = ws.repo.rev_parse(rev)
        if sha is None:
            raise UsageError(f"--rev {rev!r}: no such commit in {ws.root}")
        return sha, []
    if _has_origin(ws):
        try:
            return fetch_main(ws.repo, ws.config.branch), []
        except UpstreamUnreachable as exc:
            local = ws.repo.rev_parse(REMOTE_MAIN)
            if local is None:
                raise
            return local, [f"note: upstream unreachable, reading the last fetched main ({exc})"]
    return ws.repo.rev_parse(ws.config.branch), []


def _heartbeats(ws: Workspace) -> dict[str, int]:
    if not _has_origin(ws):
        return {}
    try:
        return fetch_heartbeats(ws.repo)
    except HarnessError:
        return ws.repo.ref_dates(SEEN_PREFIX)  # the last ones we fetched


def events_files(ws: Workspace, events: Sequence[Path] | Path | None, fleet: Sequence[Path] = ()) -> list[Path]:
    """The events files to read: those given with --events (each must exist), else every
    agent's of the fleet recorded for the work repo, and this clone's own loop's."""
    given = [events] if isinstance(events, Path) else list(events or ())
    for path in given:
        if not read_events(path).found:
            raise HarnessError(f"--events {path}: no such file; pass a loop's events.jsonl or leave --events out")
    return given or [*fleet, ws.root / EVENTS_PATH]


def run_history(
    ws: Workspace,
    rev: str | None = None,
    since: str | None = None,
    events: Sequence[Path] | Path | None = None,
    now: float | None = None,
    fleet: Sequence[Path] = (),
) -> HistoryResult:
    """``events``: files given outright; ``fleet``: the recorded fleet's (read when none is given)."""
    moment = time.time() if now is None else now
    sha, notes = resolve_rev(ws, rev)
    history = load_history(ws.repo, sha)
    window = Window(parse_since(since, moment) if since else None, moment)
    loaded = read_all(events_files(ws, events, fleet))
    loop = loop_stats(loaded, window.since) if loaded is not None else None
    beats = _heartbeats(ws) if history.open_holds else {}
    stats = history_stats(history, window, ws.config.locks, beats, loop)
    upstream = local_upstream_path(ws.repo)
    tests = baseline_points(ws.repo, upstream / BASELINE_SUBDIR if upstream else None, sha)
    tests = [p for p in tests if window.since is None or p.time >= window.since]
    stats["tests"] = (
        {"points": len(tests), "latest_passed": tests[-1].passed, "latest_tip": tests[-1].tip} if tests else None
    )
    return HistoryResult(history=history, stats=stats, events=loaded, notes=notes, since=window.since, tests=tests)
