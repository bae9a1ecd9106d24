"""The plain-text ``harness history``: a screenful a fleet's owner reads every morning."""

from __future__ import annotations

from typing import Any

from harness.history.textfmt import human_age


def _hold_line(label: str, s: dict[str, Any]) -> str:
    if not s["count"]:
        return f"{label}: none ended"
    return (
        f"{label}: median {human_age(s['median'])}, p90 {human_age(s['p90'])}, "
        f"max {human_age(s['max'])} over {s['count']} holds"
    )


def history_lines(stats: dict[str, Any], top: int = 12) -> list[str]:
    if not stats["commits"]:
        return ["no lock history: nothing under current_tasks/ was ever committed on this branch"]
    window = f"since {stats['since']}" if stats["since"] else f"{stats['first']} .. {stats['last']}"
    lines = [
        f"lock history of {str(stats['rev'])[:12]}: {stats['commits']} commits, {window}",
        f"claims {stats['claims']}  reclaims {stats['reclaims']}  releases {stats['releases']}  "
        f"swept {stats['swept']} in {stats['sweeps']} sweeps  in-place updates {stats['updates']}",
        _hold_line("hold time", stats["hold_seconds"]),
        f"most open at once: {stats['max_open']} ({stats['max_open_at'] or '-'})   "
        f"re-claims of a used name: {stats['repeat_claims']}",
    ]
    if stats["outcomes"]:
        lines.append("outcomes: " + ", ".join(f"{k} {v}" for k, v in stats["outcomes"].items()))
    if stats["unmatched_releases"]:
        lines.append(f"deletions of locks never seen added: {stats['unmatched_releases']}")
    lines += _open_lines(stats["open_now"], top)
    lines += _group_lines("AGENT", stats["agents"], top)
    lines += _group_lines("ROLE", stats["roles"], top)
    if stats.get("tests"):
        tests = stats["tests"]
        lines += ["", f"tests passing at the last gated tip: {tests['latest_passed']} ({tests['points']} baselines)"]
    if stats["loop"]:
        lines += _loop_lines(stats["loop"])
    return lines


def _open_lines(rows: list[dict[str, Any]], top: int) -> list[str]:
    stale = sum(1 for r in rows if r["stale"])
    lines = ["", f"open now: {len(rows)} ({stale} stale)"]
    for row in sorted(rows, key=lambda r: -r["age_seconds"])[:top]:
        flag = "STALE" if row["stale"] else "held"
        lines.append(f"  {row['task']:28} {row['agent']:20} {human_age(row['age_seconds']):>7}  {flag}")
    if len(rows) > top:
        lines.append(f"  … and {len(rows) - top} more (--json for all)")
    return lines


def _group_lines(title: str, rows: list[dict[str, Any]], top: int) -> list[str]:
    lines = ["", f"{title:20} {'CLAIMS':>6} {'RECL':>5} {'REL':>5} {'DONE':>5} {'SWEPT':>5} {'MEDIAN':>7} {'REL/H':>6}"]
    for row in rows[:top]:
        rate = f"{row['releases_per_hour']:.2f}" if row["releases_per_hour"] is not None else "-"
        lines.append(
            f"{row['name'][:20]:20} {row['claims']:>6} {row['reclaims']:>5} {row['releases']:>5} {row['done']:>5} "
            f"{row['swept']:>5} {human_age(row['hold_median']):>7} {rate:>6}"
        )
    if len(rows) > top:
        lines.append(f"… and {len(rows) - top} more")
    return lines


def _loop_lines(loop: dict[str, Any]) -> list[str]:
    outcomes = ", ".join(f"{k} {v}" for k, v in loop["outcomes"].items()) or "-"
    lines = [
        "",
        f"loop: {loop['iterations']} iterations ({outcomes}); lost races {loop['lost_races']}, "
        f"refused pushes {loop['refused_pushes']}",
        f"spend: {loop['tokens']:,} tokens, ${loop['cost']:.2f}; commits pushed {loop['commits_pushed']}",
    ]
    if loop["bad_lines"]:
        lines.append(f"{loop['path']}: {loop['bad_lines']} unreadable line(s) skipped")
    return lines
