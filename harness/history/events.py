"""The loop's per-iteration events (``agent_logs/events.jsonl``), read tolerantly.

The loop (harness/loop/events.py) writes one JSON object per iteration. This reader takes
what it finds and never fails on a bad line (it counts it): a fleet's owner wants the
numbers that exist, not a traceback because one agent was killed mid-write. Keys, with the
aliases other writers use:

  time: started_at + duration_seconds (the iteration's end), else time, ts, at, end, finished_at
        (unix seconds or ISO-8601)
  agent, role, task, outcome        duration (duration_seconds)
  tokens: input_tokens + output_tokens, else tokens (int, or a mapping of ints: summed)
  cost (cost_usd)   commits_pushed (commits)   claims_lost   pushes_refused
  tests_passed, tests_total (or tests: {passed, total})
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EVENTS_PATH = Path("agent_logs") / "events.jsonl"
LOST = frozenset({"lost", "lost_race", "held", "race_lost"})
REFUSED = frozenset({"refused", "gate_refused", "push_refused", "regression", "regressions"})


@dataclass(frozen=True)
class LoopEvent:
    time: float | None
    agent: str
    role: str
    task: str
    iteration: int | None
    outcome: str
    duration: float | None
    tokens: int
    cost: float
    commits_pushed: int
    claims_lost: int  # claim races lost in the iteration (at least 1 when the outcome is "lost")
    pushes_refused: int  # pushes the gate refused (at least 1 when the outcome is "refused")
    tests_passed: int | None
    tests_total: int | None


@dataclass(frozen=True)
class LoopEvents:
    path: Path
    events: list[LoopEvent]
    bad_lines: int


def read_events(path: Path) -> LoopEvents | None:
    """The events in ``path``; None when the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    events: list[LoopEvent] = []
    bad = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            event = _event(data) if isinstance(data, dict) else None
        except (ValueError, TypeError):
            event = None
        if event is None:
            bad += 1
        else:
            events.append(event)
    return LoopEvents(path, events, bad)


def _event(data: Mapping[str, Any]) -> LoopEvent:
    raw_tests = data.get("tests")
    tests: Mapping[str, Any] = raw_tests if isinstance(raw_tests, Mapping) else {}
    outcome = str(data.get("outcome") or "unknown")
    return LoopEvent(
        time=_end_time(data),
        agent=str(data.get("agent") or "-"),
        role=str(data.get("role") or "-"),
        task=str(data.get("task") or ""),
        iteration=_int_or_none(data.get("iteration")),
        outcome=outcome,
        duration=_number(_first(data, "duration", "duration_seconds")),
        tokens=_tokens(data),
        cost=_number(_first(data, "cost", "cost_usd")) or 0.0,
        commits_pushed=int(_number(_first(data, "commits_pushed", "commits")) or 0),
        claims_lost=max(int(_number(data.get("claims_lost")) or 0), int(outcome in LOST)),
        pushes_refused=max(int(_number(data.get("pushes_refused")) or 0), int(outcome in REFUSED)),
        tests_passed=_int_or_none(_first(data, "tests_passed") if "tests_passed" in data else tests.get("passed")),
        tests_total=_int_or_none(_first(data, "tests_total") if "tests_total" in data else tests.get("total")),
    )


def _end_time(data: Mapping[str, Any]) -> float | None:
    started = _time(data.get("started_at"))
    if started is not None:
        return started + (_number(data.get("duration_seconds")) or 0.0)
    return _time(_first(data, "time", "ts", "at", "end", "finished_at"))


def _first(data: Mapping[str, Any], *keys: str) -> Any:
    return next((data[k] for k in keys if data.get(k) is not None), None)


def _time(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    return None


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    return float(value)


def _int_or_none(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _tokens(data: Mapping[str, Any]) -> int:
    if "input_tokens" in data or "output_tokens" in data:
        return int(_number(data.get("input_tokens")) or 0) + int(_number(data.get("output_tokens")) or 0)
    value = data.get("tokens")
    if isinstance(value, Mapping):
        return sum(int(v) for v in value.values() if isinstance(v, int | float) and not isinstance(v, bool))
    number = _number(value)
    return int(number) if number is not None else 0


def loop_stats(loaded: LoopEvents, since: float | None = None) -> dict[str, Any]:
    events = [e for e in loaded.events if since is None or (e.time is not None and e.time >= since)]
    outcomes = Counter(e.outcome for e in events)
    durations = sorted(e.duration for e in events if e.duration is not None)
    per_agent: dict[str, dict[str, Any]] = {}
    for e in events:
        row = per_agent.setdefault(e.agent, {"agent": e.agent, "iterations": 0, "tokens": 0, "cost": 0.0})
        row["iterations"] += 1
        row["tokens"] += e.tokens
        row["cost"] = round(row["cost"] + e.cost, 6)
        row["last_outcome"] = e.outcome
    return {
        "path": str(loaded.path),
        "iterations": len(events),
        "bad_lines": loaded.bad_lines,
        "outcomes": dict(outcomes.most_common()),
        "lost_races": sum(e.claims_lost for e in events),
        "refused_pushes": sum(e.pushes_refused for e in events),
        "tokens": sum(e.tokens for e in events),
        "cost": round(sum(e.cost for e in events), 6),
        "commits_pushed": sum(e.commits_pushed for e in events),
        "duration_median": statistics.median(durations) if durations else None,
        "agents": sorted(per_agent.values(), key=lambda r: r["agent"]),
    }
