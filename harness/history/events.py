"""The loop's per-iteration events (``agent_logs/events.jsonl``) summed for history and report.

The loop writes one line per iteration and reads it back with the one reader beside the
writer (harness/loop/events.py): this module only adds the numbers up. A line the reader
could not take (torn by a kill mid-write) is counted, never fatal.
"""

from __future__ import annotations

import os
import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.loop.events import EventsFile, IterationEvent, IterationOutcome, read_events

EVENTS_PATH = Path("agent_logs") / "events.jsonl"


def read_all(paths: Sequence[Path]) -> EventsFile | None:
    """Every iteration of every file in ``paths`` (a fleet's agents each write their own),
    through the one reader, in time order; None when none of the files exists yet."""
    found = [read for read in map(read_events, dict.fromkeys(paths)) if read.found]
    if not found:
        return None
    where = found[0].path if len(found) == 1 else Path(os.path.commonpath([r.path.parent for r in found]))
    events = sorted((e for read in found for e in read.events), key=lambda e: (e.started_at, e.agent))
    return EventsFile(where, events, sum(read.bad_lines for read in found))


def claims_lost(event: IterationEvent) -> int:
    """Claim races lost in the iteration; at least 1 when it ended lost."""
    return max(event.claims_lost, int(event.outcome is IterationOutcome.LOST))


def pushes_refused(event: IterationEvent) -> int:
    """Pushes the gate refused in the iteration; at least 1 when it ended refused."""
    return max(event.pushes_refused, int(event.outcome is IterationOutcome.REFUSED))


def loop_stats(loaded: EventsFile, since: float | None = None) -> dict[str, Any]:
    events = [e for e in loaded.events if since is None or e.ended_at >= since]
    outcomes = Counter(str(e.outcome) for e in events)
    durations = sorted(e.duration_seconds for e in events)
    per_agent: dict[str, dict[str, Any]] = {}
    for e in events:
        row = per_agent.setdefault(e.agent, {"agent": e.agent, "iterations": 0, "tokens": 0, "cost": 0.0})
        row["iterations"] += 1
        row["tokens"] += e.tokens
        row["cost"] = round(row["cost"] + e.cost_usd, 6)
        row["last_outcome"] = str(e.outcome)
    return {
        "path": str(loaded.path),
        "iterations": len(events),
        "bad_lines": loaded.bad_lines,
        "outcomes": dict(outcomes.most_common()),
        "lost_races": sum(claims_lost(e) for e in events),
        "refused_pushes": sum(pushes_refused(e) for e in events),
        "tokens": sum(e.tokens for e in events),
        "cost": round(sum(e.cost_usd for e in events), 6),
        "commits_pushed": sum(e.commits_pushed for e in events),
        "duration_median": statistics.median(durations) if durations else None,
        "agents": sorted(per_agent.values(), key=lambda r: r["agent"]),
    }
