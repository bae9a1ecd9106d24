"""`harness race`: the demo of the lock protocol proves what it prints."""

from __future__ import annotations

from pathlib import Path

from harness.demo.race import run_race
from tests.conftest import run_harness


def test_race_outcome_is_read_back_from_upstream_history(tmp_path: Path) -> None:
    lines: list[str] = []
    outcome = run_race(6, 3, tmp_path, lines.append)
    assert sorted(outcome.winners) == ["task-00", "task-01", "task-02"]
    assert len(set(outcome.winners.values())) == 3 and len(outcome.empty_handed) == 3
    assert outcome.additions == {"task-00": 1, "task-01": 1, "task-02": 1} and outcome.proven


def test_race_cli_prints_winners_and_proof(tmp_path: Path) -> None:
    proc = run_harness("race", "--claimers", "4", "--tasks", "2", "--dir", str(tmp_path / "r"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("won by claimer-") == 2
    assert "proof: every task's lock was added exactly once" in proc.stdout
