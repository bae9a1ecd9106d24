"""An idle loop does not spin: sessions that make no commit are spaced out, doubling up to a
cap; an open-mode loop with no open task says so and starts no session."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from harness.loop.events import IterationEvent, IterationOutcome, read_events
from harness.loop.idle import Futile
from tests.conftest import WorkRepo, wait_until
from tests.loophelpers import FAST, run, script, short, write_task


def _event(outcome: IterationOutcome, seconds: float) -> IterationEvent:
    return IterationEvent(agent="a", role="r", iteration=1, started_at=0.0, outcome=outcome, duration_seconds=seconds)


def test_the_wait_doubles_to_its_cap_counts_the_session_and_resets_on_a_commit() -> None:
    futile = Futile(short(FAST, idle_backoff_seconds=5.0, idle_backoff_max_seconds=30.0))
    waits = [futile.after(_event(IterationOutcome.NO_CHANGE, 0.0), committed=False) for _ in range(5)]
    assert waits == [5.0, 10.0, 20.0, 30.0, 30.0]
    assert futile.after(_event(IterationOutcome.FAILED, 12.0), committed=False) == 18.0  # 30 s less the session's 12
    assert futile.after(_event(IterationOutcome.FAILED, 100.0), committed=False) == 0.0  # a long session: no wait
    assert futile.after(_event(IterationOutcome.REFUSED, 1.0), committed=True) == 0.0
    assert futile.after(_event(IterationOutcome.NO_CHANGE, 0.0), committed=False) == 5.0  # starts over


def test_a_backend_that_fails_at_once_is_not_restarted_in_a_tight_loop(work: WorkRepo, tmp_path: Path) -> None:
    ws = work.workspace("a1")
    for i in range(4):
        write_task(ws, f"t{i}", f"f{i}.txt", "x")
    broken = script(tmp_path, "broken.sh", "echo 'no API key' >&2\nexit 1\n")
    lines: list[str] = []
    settings = short(FAST, idle_backoff_seconds=0.2, idle_backoff_max_seconds=0.8)
    summary = run(ws, "command", broken, lines, max_iterations=4, settings=settings)
    assert summary.outcomes == {IterationOutcome.FAILED: 4}
    took = {e.iteration: e.duration_seconds for e in read_events(ws.root / "agent_logs" / "events.jsonl").events}
    said = {
        int(n): float(w)
        for line in lines
        for n, w in re.findall(r"iteration (\d+) made no commit: waiting ([\d.]+) s", line)
    }
    # Each wait is the doubling backoff (0.2, 0.4, 0.8 s, capped) less the iteration's own time;
    # none after the last iteration.
    for n, backoff in ((1, 0.2), (2, 0.4), (3, 0.8)):
        expected = backoff - took[n]
        assert (n in said) == (expected > 0), (n, expected, said)
        if n in said:
            assert abs(said[n] - expected) <= 0.051, (n, expected, said)
    assert 4 not in said


def test_open_mode_with_no_open_task_says_so_and_runs_no_session(work: WorkRepo, tmp_path: Path) -> None:
    clone = work.clone("a1")
    marker = tmp_path / "ran"
    agent = script(tmp_path, "agent.sh", f"echo ran >> {marker}\n")
    out, stop = tmp_path / "loop.out", tmp_path / "stop"
    argv = [sys.executable, "-m", "harness", "loop", "--role", "core-dev", "--mode", "open", "--agent", "core-dev-01",
            "--agent-cmd", f"{agent} {{prompt_file}}", "--idle-backoff", "0.05", "--stop-file", str(stop)]  # fmt: skip
    with out.open("w") as handle:
        loop = subprocess.Popen(argv, cwd=clone, stdout=handle, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: out.read_text().count("no task specs at upstream main yet") >= 3, "idle lines")
    finally:
        stop.touch()
        assert loop.wait(timeout=120) == 0
    text = out.read_text()
    assert "harness tasks add ID --title TEXT" in text and "iteration 1:" not in text
    assert not marker.exists()
