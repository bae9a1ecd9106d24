"""``harness report OUT.html``: one self-contained page — inline CSS and SVG, no script, no fetch.

Six plots (locks open over time, claims per bin — a minute for a short run, an hour or a
day for a long one —, hold-time distribution, tests passing over time, spend over time,
per-agent timelines with each hold coloured by how it ended: released, handed back,
refused by the gate, swept, reclaimed, open) and the tables behind them. Every plot is a
``<figure class="plot" id="plot-…">`` with its own colour (``PLOT_COLORS``), which is how
tests/test_report.py finds each one in a headless-Chromium screenshot.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from harness.history import svgplot
from harness.history.holds import Hold
from harness.history.query import HistoryResult
from harness.history.textfmt import human_age
from harness.locks.lockfile import utc_iso
from harness.loop.events import IterationEvent

PLOT_COLORS = {
    "locks-open": "#4e79a7",
    "claims-per-hour": "#f28e2b",
    "hold-times": "#59a14f",
    "tests-passing": "#76b7b2",
    "spend": "#e15759",
    "timelines": "#edc948",
}
# How a hold ended, each drawn apart in the timelines (the rect's class is ``hold-<kind>``).
HOLD_KINDS = {
    "released": ("#edc948", "released (done)"),
    "handed-back": ("#bab0ac", "handed back"),
    "refused": ("#d62728", "refused by the gate"),
    "swept": ("#9c755f", "swept"),
    "reclaimed": ("#ff9da7", "reclaimed from"),
    "open": ("#b07aa1", "open"),
}
# Claims are counted per bin of the first width that gives at most MAX_BINS bins.
BIN_WIDTHS = [
    (10, "10 seconds"),
    (60, "minute"),
    (300, "5 minutes"),
    (900, "15 minutes"),
    (3600, "hour"),
    (6 * 3600, "6 hours"),
    (86400, "day"),
    (7 * 86400, "week"),
]
MAX_BINS = 48
HOLD_BUCKETS = [
    (60, "<1m"),
    (300, "1-5m"),
    (900, "5-15m"),
    (1800, "15-30m"),
    (3600, "30m-1h"),
    (7200, "1-2h"),
    (14400, "2-4h"),
    (86400, "4h-1d"),
    (None, ">1d"),
]
MAX_TIMELINE_ROWS = 40
_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;max-width:1180px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}.sub{color:#666;margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #ddd;border-radius:6px;padding:8px 12px}
.card b{display:block;font-size:20px}.plots{display:grid;grid-template-columns:repeat(2,1fr);gap:14px}
figure{margin:0;border:1px solid #e4e4e4;border-radius:6px;padding:8px}figure.wide{grid-column:1/3}
figcaption{font-weight:600;margin-bottom:4px}svg{max-width:100%;height:auto;font-size:11px}
svg text{fill:#444}svg .small{font-size:10px}.axis{stroke:#888}.grid{stroke:#eee}.empty{fill:#999;font-size:14px}
table{border-collapse:collapse;margin:4px 0 8px}td,th{border-bottom:1px solid #eee;padding:3px 10px;text-align:right}
th{background:#f6f6f6}td:first-child,th:first-child{text-align:left}.legend span{margin-right:14px}
.sw{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}
"""


def write_report(out: Path, result: HistoryResult, now: float | None = None) -> int:
    """Write the page atomically (a reader never sees half a report); its size in bytes."""
    page = render(result, time.time() if now is None else now).encode("utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    tmp.write_bytes(page)
    os.replace(tmp, out)
    return len(page)


def render(result: HistoryResult, now: float) -> str:
    stats = result.stats
    since = result.since
    holds = [h for h in result.history.holds if h.end is None or since is None or h.end >= since]
    events = sorted(result.events.events if result.events else [], key=lambda e: e.ended_at)
    events = [e for e in events if since is None or e.ended_at >= since]
    plots = [
        _figure("locks-open", "Locks open over time", _locks_open(result, since)),
        _figure("claims-per-hour", *_claims_per_bin(holds, since)),
        _figure("hold-times", "Hold-time distribution (ended holds)", _hold_times(holds, since)),
        _figure("tests-passing", "Tests passing over time", _tests(result)),
        _figure("spend", "Spend over time (cumulative $)", _spend(events, result.events is not None)),
        _figure("timelines", "Per-agent timelines", _timelines(holds, since, now), wide=True, legend=_legend()),
    ]
    title = f"harness fleet report — {str(stats['rev'] or 'no history')[:12]}"
    window = f"since {stats['since']}" if stats["since"] else f"{stats['first'] or '-'} to {stats['last'] or '-'}"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head><body>'
        f"<h1>{escape(title)}</h1>"
        f'<p class="sub">{stats["commits"]} lock commits, {escape(window)}; generated {utc_iso(now)}</p>'
        f'{_cards(stats)}<h2>Plots</h2><div class="plots">{"".join(plots)}</div>{_tables(stats)}</body></html>\n'
    )


def _figure(key: str, caption: str, svg: str, wide: bool = False, legend: str = "") -> str:
    cls = "plot wide" if wide else "plot"
    return f'<figure class="{cls}" id="plot-{key}"><figcaption>{escape(caption)}</figcaption>{svg}{legend}</figure>'


def _locks_open(result: HistoryResult, since: int | None) -> str:
    points = [(float(t), float(n)) for t, n in result.history.open_series if since is None or t >= since]
    return svgplot.step_area("locks open", points, PLOT_COLORS["locks-open"], "locks open")


def bin_width(seconds: float) -> tuple[int, str]:
    """The bin for a run this long: a 12-minute run in minutes, a week in hours or days."""
    return next(((w, name) for w, name in BIN_WIDTHS if seconds / w <= MAX_BINS), BIN_WIDTHS[-1])


def _claims_per_bin(holds: Sequence[Hold], since: int | None) -> tuple[str, str]:
    starts = sorted(h.start for h in holds if since is None or h.start >= since)
    if not starts:
        return "Claims per hour", svgplot.empty("claims per hour", "no claims")
    width, name = bin_width(starts[-1] - starts[0])
    first = starts[0] - starts[0] % width
    counts = Counter((t - first) // width for t in starts)
    bins = [
        (float(first + i * width), float(first + (i + 1) * width), float(counts[i])) for i in range(max(counts) + 1)
    ]
    svg = svgplot.bars(f"claims per {name}", bins, PLOT_COLORS["claims-per-hour"], f"claims per {name}", x_time=True)
    return f"Claims per {name}", svg


def _hold_times(holds: Sequence[Hold], since: int | None) -> str:
    values = [0.0] * len(HOLD_BUCKETS)
    for hold in holds:
        seconds = hold.seconds
        if seconds is None:
            continue
        index = next(i for i, (limit, _) in enumerate(HOLD_BUCKETS) if limit is None or seconds < limit)
        values[index] += 1
    labels = [label for _, label in HOLD_BUCKETS]
    return svgplot.labelled_bars("hold times", labels, values, PLOT_COLORS["hold-times"], "holds")


def _tests(result: HistoryResult) -> str:
    """The gate's baselines (the upstream's, when it is on this machine)."""
    if not result.tests:
        return svgplot.empty("tests passing", "no gate baselines (the upstream is not on this machine, or not gated)")
    points = [(p.time, float(p.passed)) for p in result.tests]
    return svgplot.line("tests passing", points, PLOT_COLORS["tests-passing"], "tests passing (baseline)", None)


def _spend(events: Sequence[IterationEvent], read: bool) -> str:
    total, points = 0.0, []
    for event in events:
        if event.cost_usd:
            total += event.cost_usd
            points.append((event.ended_at, total))
    if not read:
        return svgplot.empty("spend", "no events read: no fleet recorded for this repo and no agent_logs/events.jsonl")
    if not points:
        return svgplot.empty("spend", f"no cost in the {len(events)} iteration(s) read")
    return svgplot.step_area("spend", points, PLOT_COLORS["spend"], "$ spent")


def _timelines(holds: Sequence[Hold], since: int | None, now: float) -> str:
    if not holds:
        return svgplot.empty("timelines", "no holds")
    x0 = float(since if since is not None else min(h.start for h in holds))
    last = max(float(h.end or h.start) for h in holds)
    # Open holds run to now while the fleet is live; for an old history, to its last event.
    x1 = now if 0 <= now - last <= max(last - x0, 3600) / 4 else last
    by_agent: dict[str, list[svgplot.Span]] = {}
    for hold in holds:
        end = float(hold.end) if hold.end is not None else x1
        kind = hold_kind(hold)
        title = f"{hold.task}: {utc_iso(hold.start)} +{human_age(end - hold.start)} ({HOLD_KINDS[kind][1]})"
        span = svgplot.Span(max(float(hold.start), x0), end, HOLD_KINDS[kind][0], title, kind=f"hold-{kind}")
        by_agent.setdefault(hold.agent, []).append(span)
    busiest = sorted(by_agent.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:MAX_TIMELINE_ROWS]
    return svgplot.timelines("per-agent timelines", sorted(busiest), x0, x1)


def hold_kind(hold: Hold) -> str:
    if hold.ended_by is None:
        return "open"
    if hold.ended_by != "release":
        return {"sweep": "swept", "reclaim": "reclaimed"}.get(hold.ended_by, "released")
    return {"refused": "refused", "abandoned": "handed-back"}.get(hold.outcome or "", "released")


def _legend() -> str:
    items = "".join(
        f'<span><i class="sw" style="background:{color}"></i>{label}</span>' for color, label in HOLD_KINDS.values()
    )
    return f'<div class="legend">{items}</div>'


def _cards(stats: dict[str, Any]) -> str:
    hold = stats["hold_seconds"]
    loop = stats["loop"] or {}
    cards = [
        ("claims", stats["claims"]),
        ("releases", stats["releases"]),
        ("reclaims", stats["reclaims"]),
        ("sweeps", f"{stats['sweeps']} ({stats['swept']} locks)"),
        ("median hold", human_age(hold["median"])),
        ("p90 hold", human_age(hold["p90"])),
        ("max hold", human_age(hold["max"])),
        ("most open at once", stats["max_open"]),
        ("open now", f"{len(stats['open_now'])} ({stats['stale_now']} stale)"),
    ]
    if loop:
        cards += [
            ("iterations", loop["iterations"]),
            ("tokens", f"{loop['tokens']:,}"),
            ("spend", f"${loop['cost']:.2f}"),
        ]
    body = "".join(f'<div class="card"><b>{escape(str(v))}</b>{escape(k)}</div>' for k, v in cards)
    return f'<div class="cards">{body}</div>'


def _table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    if not rows:
        return f"<h2>{escape(title)}</h2><p>none</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(_cell(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<h2>{escape(title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _tables(stats: dict[str, Any]) -> str:
    group_headers = ["name", "claims", "reclaims", "releases", "done", "abandoned", "refused", "swept", "fenced"]
    group_headers += ["median hold"]
    group_headers += ["held", "releases/h"]

    def group_rows(rows: list[dict[str, Any]]) -> list[list[Any]]:
        keys = ["name", "claims", "reclaims", "releases", "done", "abandoned", "refused", "swept", "fenced"]
        return [
            [r[k] for k in keys] + [human_age(r["hold_median"]), human_age(r["held_seconds"]), r["releases_per_hour"]]
            for r in rows
        ]

    open_rows = [
        [r["task"], r["agent"], r["role"], r["since"], human_age(r["age_seconds"]), "STALE" if r["stale"] else "held"]
        for r in sorted(stats["open_now"], key=lambda r: -r["age_seconds"])
    ]
    hold = stats["hold_seconds"]
    parts = [
        _table("Per agent", group_headers, group_rows(stats["agents"])),
        _table("Per role", group_headers, group_rows(stats["roles"])),
        _table("Open now", ["task", "agent", "role", "since", "age", "state"], open_rows),
        _table("Outcomes", ["outcome", "holds"], list(stats["outcomes"].items())),
        _table(
            "Hold times (seconds)",
            ["holds", "median", "p90", "max", "mean"],
            [[hold["count"], hold["median"], hold["p90"], hold["max"], hold["mean"]]],
        ),
        _table("Re-claimed task names", ["task", "claims"], [[m["task"], m["claims"]] for m in stats["most_claimed"]]),
    ]
    loop = stats["loop"]
    if loop:
        parts.append(_table("Loop outcomes", ["outcome", "iterations"], list(loop["outcomes"].items())))
        parts.append(
            _table(
                "Loop per agent",
                ["agent", "iterations", "tokens", "cost", "last outcome"],
                [[a["agent"], a["iterations"], a["tokens"], a["cost"], a.get("last_outcome")] for a in loop["agents"]],
            )
        )
    return "".join(parts)
