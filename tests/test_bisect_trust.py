"""``harness bisect`` as a user relies on it (issue 18): a flaky probe never yields an answer,
a cache never outlives the candidate tool it was made with, the task spec's recipe
reproduces the verdict when pasted into a shell, and the specs go to the work repo."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from harness.tasks.specs import parse_spec
from tests.conftest import WorkRepo, run_harness
from tests.test_bisect_probe import units_file

# The "candidate tool" is a file listing the units it miscompiles; the probe fails when the
# candidate set holds one of them. Fixing the tool for a unit = deleting its line.
TOOL_PROBE = 'while read -r u; do grep -qx "$u" "$HARNESS_BISECT_CANDIDATE" && exit 1; done < tool.txt; exit 0'


def bisect(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_harness("bisect", "--units", str(units_file(tmp_path)), "--json", *args, cwd=tmp_path)


def test_a_flaky_probe_is_reported_undecided_with_the_probes_that_disagree(tmp_path: Path) -> None:
    # u3.c is the culprit. Once, the first time a build holds u7.c but not u3.c, the test
    # suite fails spuriously: the search's own confirmation probe (all but u3.c) does.
    probe = (
        'c="$HARNESS_BISECT_CANDIDATE"; grep -qx u3.c "$c" && exit 1; '
        'if grep -qx u7.c "$c" && [ ! -e flaked ]; then touch flaked; echo "flaky test failed"; exit 1; fi; exit 0'
    )
    result = bisect(tmp_path, "--probe", probe)
    assert result.returncode == 7, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "undecided" and data["nondeterministic"] is True
    assert data["culprits"] == [] and data["suspects"]  # the search's answer, not reported as found
    verdicts = {p["verdict"] for c in data["contradictions"] for p in c["probes"]}
    assert verdicts == {"good", "bad"}
    spurious = [p for c in data["contradictions"] for p in c["probes"] if p["verdict"] == "bad"]
    assert "flaky test failed" in Path(spurious[0]["log"]).read_text()  # its log was kept
    assert "error: undecided: the probe is not deterministic" in result.stderr


def test_a_fixed_candidate_with_the_same_cache_key_is_caught_not_confirmed(tmp_path: Path) -> None:
    cache = str(tmp_path / "verdicts.json")
    (tmp_path / "tool.txt").write_text("u3.c\nu9.c\n")
    first = bisect(tmp_path, "--probe", TOOL_PROBE, "--cache", cache, "--cache-key", "v1")
    assert json.loads(first.stdout)["culprits"] == ["u3.c", "u9.c"]
    (tmp_path / "tool.txt").write_text("u3.c\n")  # the candidate is fixed for u9.c; the key is not changed
    stale = bisect(tmp_path, "--probe", TOOL_PROBE, "--cache", cache, "--cache-key", "v1")
    assert stale.returncode == 7, stale.stderr
    data = json.loads(stale.stdout)
    assert data["culprits"] == [] and data["cached"] > 0
    (contradiction,) = data["contradictions"]
    assert contradiction["finding"] == "the cache disagrees with fresh probes"
    assert contradiction["candidate"] == ["u9.c"]
    assert contradiction["probes"][0]["cached"] is True  # the search took it from the cache
    # The contradicted verdict is gone from the cache: the next run goes down the right path.
    again = bisect(tmp_path, "--probe", TOOL_PROBE, "--cache", cache, "--cache-key", "v1")
    assert json.loads(again.stdout)["culprits"] == ["u3.c"], again.stderr


def test_candidate_names_the_tool_whose_content_keys_the_cache(tmp_path: Path) -> None:
    cache = str(tmp_path / "verdicts.json")
    tool = tmp_path / "tool.txt"
    tool.write_text("u3.c\nu9.c\n")
    first = bisect(tmp_path, "--probe", TOOL_PROBE, "--cache", cache, "--candidate", str(tool))
    assert json.loads(first.stdout)["culprits"] == ["u3.c", "u9.c"]
    warm = json.loads(bisect(tmp_path, "--probe", TOOL_PROBE, "--cache", cache, "--candidate", str(tool)).stdout)
    assert warm["status"] == "found" and warm["cached"] > 0
    # Cached answers are counted apart: only the sanity and confirmation probes ran.
    assert warm["probes"] == 2 + warm["confirmation_probes"]
    tool.write_text("u3.c\n")  # fixed for u9.c: another hash, another key, fresh probes
    fixed = json.loads(bisect(tmp_path, "--probe", TOOL_PROBE, "--cache", cache, "--candidate", str(tool)).stdout)
    assert fixed["status"] == "found" and fixed["culprits"] == ["u3.c"] and fixed["cached"] == 0


def test_the_task_recipe_reproduces_the_verdict_and_only_for_the_culprit(tmp_path: Path, work: WorkRepo) -> None:
    build = tmp_path / "build"
    build.mkdir()
    (build / "tool.txt").write_text("u5.c\n")
    # A probe that builds in its scratch directory and refuses to run without one.
    probe = ': "${HARNESS_BISECT_SCRATCH:?not set}"; cd "$HARNESS_BISECT_SCRATCH" && cd - >/dev/null && ' + TOOL_PROBE
    result = run_harness(
        "bisect", "--units", str(units_file(build)), "--probe", probe, "--emit-tasks", "--repo", str(work.first_clone),
        cwd=build,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    spec = parse_spec("tasks/bisect-u5.c.yaml", (work.first_clone / "tasks" / "bisect-u5.c.yaml").read_bytes())
    recipe = "\n".join(line[4:] for line in spec.body.splitlines() if line.startswith("    "))
    elsewhere = {"cwd": tmp_path, "capture_output": True, "text": True, "check": False}
    assert subprocess.run(["sh", "-c", recipe], **elsewhere).returncode == 1  # type: ignore[call-overload]
    innocent = recipe.replace("'u5.c'", "'u6.c'")
    assert subprocess.run(["sh", "-c", innocent], **elsewhere).returncode == 0  # type: ignore[call-overload]


def test_task_specs_go_to_the_clone_around_the_current_directory(tmp_path: Path, work: WorkRepo) -> None:
    inside = work.first_clone / "build"
    inside.mkdir()
    result = run_harness(
        "bisect", "--units", str(units_file(tmp_path)), "--probe", '! grep -qx u2.c "$HARNESS_BISECT_CANDIDATE"',
        "--emit-tasks", "--quiet", cwd=inside,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (work.first_clone / "tasks" / "bisect-u2.c.yaml").exists()
    assert not (inside / "tasks").exists()


def test_emit_tasks_outside_a_clone_names_the_flag_before_probing(tmp_path: Path) -> None:
    result = run_harness(
        "bisect", "--units", str(units_file(tmp_path)), "--probe", "touch probed; exit 1", "--emit-tasks", cwd=tmp_path
    )
    assert result.returncode == 2
    assert "not in a git clone; pass --repo CLONE" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "probed").exists() and not (tmp_path / "tasks").exists()
