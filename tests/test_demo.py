"""`harness demo`: the README's first command, end to end with a small fleet."""

from __future__ import annotations

import itertools
import re
import shlex
import subprocess
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
    # Where the time went, in parts that add up: sessions, the gate, waiting, the rest.
    assert "agent-seconds:" in out and "parallel efficiency" not in out
    parts = {m[0]: float(m[1]) for m in re.findall(r"^    (sessions|gate|waiting|other) +([\d.]+) s", out, re.M)}
    assert set(parts) == {"sessions", "gate", "waiting", "other"}, out
    whole = float(re.search(r"= ([\d.]+) agent-seconds", out).group(1))  # type: ignore[union-attr]
    assert abs(sum(parts.values()) - whole) < 0.5
    # Why the task was refused (the test it broke) and where its work is: a command that shows it.
    refused = re.search(r"^  refused: split-on-commas, [^:]*: (.*)$", out, re.M)
    assert refused and "tests.test_core::test_words_splits_on_whitespace" in refused.group(1), out
    assert "its work is kept, not lost" in out
    show = re.search(r"see it: (git .*)$", out, re.M)
    assert show, out
    shown = subprocess.run(shlex.split(show.group(1)), capture_output=True, text=True, check=True).stdout
    assert "split(',')" in shown
    assert (target / "work-upstream.git").is_dir() and (target / "fleet" / "core-dev-01" / "loop.log").exists()


def test_progress_lines_say_each_claim_once(tmp_path: Path) -> None:
    proc = run_harness(
        "demo", "--agents", "2", "--tasks", "6", "--delay", "0.1", "--dir", str(tmp_path / "d"), cwd=tmp_path,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    arrows = [line.strip() for line in proc.stdout.splitlines() if " → " in line]
    iterations = int(re.search(r"iterations +(\d+)", proc.stdout).group(1))  # type: ignore[union-attr]
    assert 0 < len(arrows) <= iterations, proc.stdout
    per_agent: dict[str, list[str]] = {}
    for line in arrows:
        agent, task = line.split(" → ")
        per_agent.setdefault(agent, []).append(task)
    for tasks in per_agent.values():
        assert all(a != b for a, b in itertools.pairwise(tasks)), arrows


def test_the_demo_leaves_no_temporary_directory_behind(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = run_harness("demo", "--agents", "2", "--tasks", "4", "--delay", "0.05", cwd=tmp_path,
                       env={"TMPDIR": str(scratch)}, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "pass --dir PATH to keep it" in proc.stdout
    assert list(scratch.glob("harness-demo-*")) == []
