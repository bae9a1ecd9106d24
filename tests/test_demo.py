"""`harness demo`: the README's first command, end to end with a small fleet."""

from __future__ import annotations

from pathlib import Path

from harness.demo.project import demo_tasks
from tests.conftest import run_harness


def test_demo_tasks_have_the_promised_shapes() -> None:
    specs = demo_tasks(24, 0.1)
    assert len(specs) == 24 and len({s.id for s in specs}) == 24
    assert sum(1 for s in specs if s.depends_on) >= 5
    assert sum(1 for s in specs if "@write textkit/banner.py" in s.body) == 2  # same lines
    assert [s.id for s in specs if "split(',')" in s.body] == ["split-on-commas"]  # breaks a test


def test_demo_runs_a_fleet_to_the_end_and_summarizes(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    proc = run_harness(
        "demo", "--agents", "3", "--tasks", "8", "--delay", "0.1", "--dir", str(target), cwd=tmp_path, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = proc.stdout
    assert "builtin agents (scripted, not AI)" in out
    assert "tasks done          7/8" in out  # all but the one that breaks a test
    assert "pushes refused" in out and "pushes refused      0" not in out
    assert "wall time" in out and "parallel efficiency" in out
    assert (target / "work-upstream.git").is_dir() and (target / "fleet" / "core-dev-01" / "loop.log").exists()
