"""Tiny inline-SVG charts: no library, no script, no network — the report opens anywhere.

Each chart is a function from data to one ``<svg>`` string with axes, ticks and labels.
Colours are passed in so each plot keeps its own (the report's test finds every plot in
a headless-browser screenshot by its colour).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

W, H = 560, 250
LEFT, RIGHT, TOP, BOTTOM = 52, 14, 12, 34
LABEL_LEFT = 96  # room for an agent id left of a timeline row


@dataclass(frozen=True)
class Span:
    start: float
    end: float
    color: str
    title: str = ""
    kind: str = ""  # the rect's class: what tests and stylesheets find it by


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2, 5 × 10^k steps)."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


_TIME_STEPS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400, 30 * 86400)


def time_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    span = max(hi - lo, 1.0)
    # Beyond a month: whole multiples of 30 days, still about ``count`` ticks.
    fallback = math.ceil(span / count / _TIME_STEPS[-1]) * _TIME_STEPS[-1]
    step = next((s for s in _TIME_STEPS if span / s <= count), fallback)
    first = math.ceil(lo / step) * step
    return [float(t) for t in range(int(first), int(hi) + 1, step)]


def time_label(t: float, span: float) -> str:
    moment = datetime.fromtimestamp(t, UTC)
    if span <= 2 * 86400:
        return moment.strftime("%H:%M")
    return moment.strftime("%m-%d")


def number_label(v: float) -> str:
    if abs(v) >= 1000:
        return f"{v / 1000:g}k"
    return f"{v:g}"


class Frame:
    """Maps data coordinates into the plot area and draws the axes."""

    def __init__(
        self, x0: float, x1: float, y0: float, y1: float, height: int = H, left: int = LEFT, width: int = W
    ) -> None:
        self.x0, self.x1 = x0, x1 if x1 > x0 else x0 + 1
        self.y0, self.y1 = y0, y1 if y1 > y0 else y0 + 1
        self.height = height
        self.left = left
        self.width = width

    def x(self, v: float) -> float:
        return round(self.left + (v - self.x0) / (self.x1 - self.x0) * (self.width - self.left - RIGHT), 2)

    def y(self, v: float) -> float:
        return round(self.height - BOTTOM - (v - self.y0) / (self.y1 - self.y0) * (self.height - TOP - BOTTOM), 2)

    def axes(
        self, x_time: bool, y_label: str, x_ticks: Sequence[tuple[float, str]] | None = None, y_ticks: bool = True
    ) -> str:
        base = self.y(self.y0)
        parts = [
            f'<line class="axis" x1="{self.left}" y1="{base}" x2="{self.width - RIGHT}" y2="{base}"/>',
            f'<line class="axis" x1="{self.left}" y1="{TOP}" x2="{self.left}" y2="{base}"/>',
        ]
        for v in nice_ticks(self.y0, self.y1) if y_ticks else []:
            y = self.y(v)
            parts.append(f'<line class="grid" x1="{self.left}" y1="{y}" x2="{self.width - RIGHT}" y2="{y}"/>')
            parts.append(f'<text x="{self.left - 6}" y="{y + 4}" text-anchor="end">{number_label(v)}</text>')
        if x_ticks is None:
            span = self.x1 - self.x0
            values = time_ticks(self.x0, self.x1) if x_time else nice_ticks(self.x0, self.x1)
            x_ticks = [(v, time_label(v, span) if x_time else number_label(v)) for v in values]
        for v, label in x_ticks:
            parts.append(f'<text x="{self.x(v)}" y="{base + 16}" text-anchor="middle">{escape(label)}</text>')
        parts.append(
            f'<text x="12" y="{TOP + (base - TOP) / 2}" transform="rotate(-90 12 {TOP + (base - TOP) / 2})" '
            f'text-anchor="middle">{escape(y_label)}</text>'
        )
        return "".join(parts)


def _svg(name: str, body: str, height: int = H, width: int = W) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(name)}">{body}</svg>'
    )


def empty(name: str, message: str) -> str:
    return _svg(name, f'<text class="empty" x="{W / 2}" y="{H / 2}" text-anchor="middle">{escape(message)}</text>')


def step_area(name: str, points: Sequence[tuple[float, float]], color: str, y_label: str) -> str:
    """A value that holds until the next point (locks open, cumulative spend)."""
    if not points:
        return empty(name, "no data")
    xs = [p[0] for p in points]
    top = max(p[1] for p in points)
    frame = Frame(min(xs), max(xs), 0, max(top, 1) * 1.05)
    path = [f"M{frame.x(xs[0])},{frame.y(0)}"]
    previous = 0.0
    for x, y in points:
        path.append(f"L{frame.x(x)},{frame.y(previous)}L{frame.x(x)},{frame.y(y)}")
        previous = y
    path.append(f"L{frame.x(max(xs))},{frame.y(previous)}L{frame.x(max(xs))},{frame.y(0)}Z")
    body = f'<path d="{"".join(path)}" fill="{color}" stroke="{color}" stroke-width="1"/>'
    return _svg(name, frame.axes(True, y_label) + body)


def line(name: str, points: Sequence[tuple[float, float]], color: str, y_label: str, y_max: float | None) -> str:
    """A measured value over time (tests passing), with a dot per measurement."""
    if not points:
        return empty(name, "no data")
    xs = [p[0] for p in points]
    top = y_max if y_max is not None else max(p[1] for p in points) * 1.05
    frame = Frame(min(xs), max(xs), 0, max(top, 1))
    coords = " ".join(f"{frame.x(x)},{frame.y(y)}" for x, y in points)
    dots = "".join(f'<circle cx="{frame.x(x)}" cy="{frame.y(y)}" r="3" fill="{color}"/>' for x, y in points)
    body = f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>{dots}'
    return _svg(name, frame.axes(True, y_label) + body)


def bars(name: str, bins: Sequence[tuple[float, float, float]], color: str, y_label: str, x_time: bool) -> str:
    """Bars from (x_start, x_end, value): claims per hour, a histogram."""
    if not bins:
        return empty(name, "no data")
    frame = Frame(bins[0][0], bins[-1][1], 0, max(max(b[2] for b in bins), 1) * 1.05)
    rects = []
    for lo, hi, value in bins:
        if value <= 0:
            continue
        x, width = frame.x(lo), max(frame.x(hi) - frame.x(lo) - 1, 1)
        y = frame.y(value)
        rects.append(f'<rect x="{x}" y="{y}" width="{width:.2f}" height="{frame.y(0) - y:.2f}" fill="{color}"/>')
    return _svg(name, frame.axes(x_time, y_label) + "".join(rects))


def labelled_bars(name: str, labels: Sequence[str], values: Sequence[float], color: str, y_label: str) -> str:
    """Bars over category labels (the hold-time histogram's buckets)."""
    if not values or not any(values):
        return empty(name, "no data")
    n = len(values)
    ticks = [(i + 0.5, label) for i, label in enumerate(labels)]
    frame = Frame(0, n, 0, max(values) * 1.05)
    rects = []
    for i, value in enumerate(values):
        if value > 0:
            x, y = frame.x(i + 0.08), frame.y(value)
            width = frame.x(i + 0.92) - x
            rects.append(f'<rect x="{x}" y="{y}" width="{width:.2f}" height="{frame.y(0) - y:.2f}" fill="{color}"/>')
    return _svg(name, frame.axes(False, y_label, ticks) + "".join(rects))


def timelines(name: str, rows: Sequence[tuple[str, Sequence[Span]]], x0: float, x1: float) -> str:
    """One row per agent, one bar per hold (a Gantt chart)."""
    if not rows:
        return empty(name, "no data")
    row_h = 16
    height = TOP + BOTTOM + row_h * len(rows)
    frame = Frame(x0, x1, 0, len(rows), height, left=LABEL_LEFT, width=2 * W)
    parts = [frame.axes(True, "", y_ticks=False)]  # a time axis; rows carry their own labels
    for i, (label, spans) in enumerate(rows):
        y = TOP + i * row_h
        short = escape(label[:16])
        parts.append(f'<text x="{LABEL_LEFT - 4}" y="{y + 12}" text-anchor="end" class="small">{short}</text>')
        for span in spans:
            x = frame.x(span.start)
            width = max(frame.x(span.end) - x, 1.5)
            title = f"<title>{escape(span.title)}</title>" if span.title else ""
            cls = f' class="{escape(span.kind)}"' if span.kind else ""
            parts.append(
                f'<rect{cls} x="{x}" y="{y + 2}" width="{width:.2f}" height="{row_h - 4}" '
                f'fill="{span.color}">{title}</rect>'
            )
    return _svg(name, "".join(parts), height, 2 * W)
