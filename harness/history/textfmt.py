"""Plain-text renderings shared by the CLI commands."""

from __future__ import annotations

from harness.locks.status import StatusKind, StatusReport


def human_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    s = abs(int(seconds))
    if s < 120:
        return f"{sign}{s}s"
    if s < 7200:
        return f"{sign}{s // 60}m"
    return f"{sign}{s // 3600}h{(s % 3600) // 60:02d}m"


def status_lines(report: StatusReport) -> list[str]:
    lines = [*report.notes, *(f"ERROR {problem}" for problem in report.problems)]
    if not report.rows:
        return [*lines, "no locks held", report.role_trust]
    lines.append(f"{'TASK':28} {'AGENT':18} {'ROLE':10} {'AGE':>7} {'BEAT':>7}  STATE")
    for row in report.rows:
        if row.kind is not StatusKind.LOCK:
            lines.append(f"{row.task:28} {'?':18} {'?':10} {'-':>7} {'-':>7}  {row.kind}: {row.path} {row.note!r}")
            continue
        state = "queued" if row.queued else "STALE" if row.stale else "held"
        if row.problem:  # a lock stamped in the future: says why it is stale
            state += f" ({row.problem})"
        if row.container is not None:  # a Docker fleet: is the holder still running?
            state += f" (container {row.container})"
        lines.append(
            f"{row.task:28} {row.agent or '?':18} {row.role or '-':10} {human_age(row.age_seconds):>7} "
            f"{human_age(row.heartbeat_age_seconds):>7}  {state}"
        )
    lines.append(report.role_trust)
    return lines
