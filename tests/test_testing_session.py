"""`harness test` as an agent runs it: a few lines, a log path, --json, --fast."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import WorkRepo, commit_file, git, run_harness

CONFIG = """\
version: 1
tests:
  runner: files
  glob: "t/*.sh"
  run: "sh {test}"
  fast_fraction: 0.05
  max_errors: 3
"""


def suite(work: WorkRepo, n: int, failing: set[int]) -> None:
    clone = work.first_clone
    (clone / "t").mkdir(exist_ok=True)
    for i in range(n):
        body = f"echo 'case {i}: wrong answer'\nexit 1\n" if i in failing else "exit 0\n"
        (clone / f"t/{i:03d}.sh").write_text(body)
    (clone / "harness.yaml").write_text(CONFIG)
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "suite")


def test_output_is_a_summary_capped_error_lines_and_the_log(work: WorkRepo) -> None:
    suite(work, 40, failing={1, 2, 3, 4, 5})
    result = run_harness("test", "--agent", "core-dev-03", cwd=work.first_clone)
    assert result.returncode == 6
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"35/40 passed \(87\.5%\), full suite, \d+\.\d s", lines[0])
    assert lines[1] == "ERROR t/001.sh: exit 1: case 1: wrong answer"
    assert lines[4].startswith("... and 2 more (all in ")
    assert lines[-1].startswith("log: ") and len(lines) == 6
    log = lines[-1].removeprefix("log: ")
    assert "case 5: wrong answer" in Path(log).read_text()


def test_fast_samples_by_agent_and_always_retries_last_failures(work: WorkRepo) -> None:
    suite(work, 300, failing=set())
    first = json.loads(run_harness("test", "--fast", "--json", "--agent", "core-dev-03", cwd=work.first_clone).stdout)
    again = json.loads(run_harness("test", "--fast", "--json", "--agent", "core-dev-03", cwd=work.first_clone).stdout)
    other = json.loads(run_harness("test", "--fast", "--json", "--agent", "core-dev-04", cwd=work.first_clone).stdout)
    assert first["selected"] == again["selected"] and first["selected"] != other["selected"]
    assert first["fraction"] == 0.05 and first["seed"] == "core-dev-03" and first["counts"]["total"] == 300
    assert "5% sample of 300, seed core-dev-03" in first["summary"]
    # Break a test outside the sample; a full run sees it, and the next --fast run retries it.
    outside = next(f"t/{i:03d}.sh" for i in range(300) if f"t/{i:03d}.sh" not in first["selected"])
    commit_file(work.first_clone, outside, "exit 1\n", "break one")
    full = json.loads(run_harness("test", "--json", "--agent", "core-dev-03", cwd=work.first_clone).stdout)
    assert [f["id"] for f in full["failures"]] == [outside]
    fast = json.loads(run_harness("test", "--fast", "--json", "--agent", "core-dev-03", cwd=work.first_clone).stdout)
    assert outside in fast["selected"] and fast["failures"][0]["id"] == outside


def test_fraction_out_of_range_is_a_usage_error(work: WorkRepo) -> None:
    suite(work, 3, failing=set())
    result = run_harness("test", "--fraction", "0.5", cwd=work.first_clone)
    assert result.returncode == 2 and "0.01 to 0.1" in result.stderr and "Traceback" not in result.stderr


def test_bad_tests_config_names_the_file_and_field(work: WorkRepo) -> None:
    (work.first_clone / "harness.yaml").write_text("version: 1\ntests:\n  runner: nose\n")
    result = run_harness("test", cwd=work.first_clone)
    assert result.returncode == 1
    assert "harness.yaml: tests.runner: unknown runner 'nose'" in result.stderr
