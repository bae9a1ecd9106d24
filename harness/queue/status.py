"""``harness queue status``: what waits, what is under test, what landed or was refused."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.git.repo import GitRepo
from harness.queue.journal import Entry, Journal, QueueState
from harness.queue.runner import state_dir
from harness.queue.submission import read_submissions


@dataclass(frozen=True)
class QueueReport:
    queued: list[dict[str, Any]]
    testing: list[dict[str, Any]]
    finished: list[dict[str, Any]]
    suite_runs: int
    batches: int
    landed: int

    def to_json(self) -> dict[str, Any]:
        return {
            "queued": self.queued,
            "testing": self.testing,
            "finished": self.finished,
            "suite_runs": self.suite_runs,
            "batches": self.batches,
            "suite_runs_per_landed": round(self.suite_runs / self.landed, 3) if self.landed else None,
        }


def queue_report(upstream: Path, recent: int = 20) -> QueueReport:
    now = time.time()
    repo = GitRepo(upstream, env={"GIT_DIR": str(upstream)})
    journal = Journal.load(state_dir(upstream) / "journal.json")
    testing = {e.task: e for e in journal.testing}
    queued = [
        {"task": s.task, "agent": s.agent, "commit": s.commit, "age_seconds": round(now - s.submitted_at, 1)}
        for s in read_submissions(repo)
        if s.task not in testing
    ]
    return QueueReport(
        queued=queued,
        testing=[_entry(e, now) for e in journal.testing],
        finished=[_entry(e, now) for e in journal.finished[-recent:]],
        suite_runs=journal.suite_runs,
        batches=journal.batches,
        landed=sum(1 for e in journal.finished if e.state is QueueState.LANDED),
    )


def _entry(entry: Entry, now: float) -> dict[str, Any]:
    return {
        "task": entry.task,
        "agent": entry.agent,
        "state": str(entry.state),
        "commit": entry.commit,
        "age_seconds": round(now - entry.at, 1),
        "waited_seconds": round(entry.at - entry.submitted_at, 1) if entry.submitted_at else None,
        "reason": entry.reason,
        "kept_on": entry.kept_on,
    }


def report_lines(report: QueueReport) -> list[str]:
    lines = [
        f"{len(report.queued)} queued, {len(report.testing)} testing; "
        f"{report.batches} batch(es), {report.suite_runs} suite run(s) so far"
    ]
    for item in report.testing:
        lines.append(f"  testing  {item['task']:<24} {item['agent']:<16} for {item['age_seconds']:.0f} s")
    for item in report.queued:
        lines.append(f"  queued   {item['task']:<24} {item['agent']:<16} for {item['age_seconds']:.0f} s")
    for item in report.finished:
        where = f" (work on {item['kept_on']})" if item["kept_on"] else ""
        reason = f": {item['reason']}" if item["reason"] and item["state"] != "landed" else ""
        lines.append(
            f"  {item['state']:<8} {item['task']:<24} {item['agent']:<16} {item['age_seconds']:.0f} s ago"
            f"{reason}{where}"
        )
    return lines
