"""The probe runner and ``harness bisect`` with real probe processes: exit codes, crashes,
hangs, flaky probes, the cache, parallel slots, and the command's output."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from harness.bisect import probe as probe_module
from harness.bisect.probe import ProbeRunner, ProbeSettings
from harness.bisect.search import Verdict
from harness.tasks.specs import parse_spec
from tests.conftest import WorkRepo, run_harness, wait_until


def runner(tmp_path: Path, command: str, **options: object) -> ProbeRunner:
    jobs = int(options.pop("jobs", 1))  # type: ignore[call-overload]
    settings = ProbeSettings(command, tmp_path, **options)  # type: ignore[arg-type]
    return ProbeRunner(["a.c", "b.c", "c.c"], settings, jobs)


@pytest.mark.parametrize(
    ("script", "verdict", "reason"),
    [
        ("exit 0", Verdict.GOOD, "exit 0"),
        ("echo link failed; exit 1", Verdict.BAD, "exit 1: link failed"),
        ("exit 125", Verdict.UNDECIDED, "exit 125, cannot tell"),
        ("kill -SEGV $$", Verdict.UNDECIDED, "probe crashed: SIGSEGV"),
        ("exit 200", Verdict.UNDECIDED, "probe crashed: exit 200"),
    ],
)
def test_exit_status_is_read_as_git_bisect_run_reads_it(
    tmp_path: Path, script: str, verdict: Verdict, reason: str
) -> None:
    probe = runner(tmp_path, script)
    assert probe([frozenset({0})]) == [verdict]
    assert probe.records[0].reason.startswith(reason)
    assert probe.records[0].tries == (1 if verdict is not Verdict.UNDECIDED else 2)


def test_the_candidate_file_lists_exactly_the_subset(tmp_path: Path) -> None:
    probe = runner(tmp_path, 'cp "$HARNESS_BISECT_CANDIDATE" seen.txt; echo "$HARNESS_BISECT_SLOT" > slot.txt')
    probe([frozenset({0, 2})])
    assert (tmp_path / "seen.txt").read_text() == "a.c\nc.c\n"
    assert (tmp_path / "slot.txt").read_text() == "0\n"


def test_a_hung_probe_is_killed_with_its_children_and_reported_undecided(tmp_path: Path) -> None:
    probe = runner(tmp_path, "sleep 60 & echo $! > child.pid; wait", timeout=0.5, repeats=1)
    started = time.monotonic()
    assert probe([frozenset({1})]) == [Verdict.UNDECIDED]
    assert time.monotonic() - started < 10
    assert probe.records[0].reason == "timed out after 0.5s"
    child = int((tmp_path / "child.pid").read_text())
    wait_until(lambda: not running(child), f"the probe's child {child} to be gone", timeout=30)


def running(pid: int) -> bool:
    """Alive and not a zombie (a killed orphan may wait for a reaper that never comes)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_hang_can_be_read_as_bad_when_asked(tmp_path: Path) -> None:
    probe = runner(tmp_path, "sleep 60", timeout=0.3, timeout_is_bad=True)
    assert probe([frozenset({1})]) == [Verdict.BAD]


def test_a_flaky_probe_is_repeated_until_it_can_tell(tmp_path: Path) -> None:
    # Fails to judge on the first run only (e.g. a busy license server), then passes.
    script = "if [ -e tried ]; then exit 0; fi; touch tried; exit 125"
    probe = runner(tmp_path, script, repeats=3)
    assert probe([frozenset({0})]) == [Verdict.GOOD]
    assert probe.records[0].tries == 2


def test_verdicts_are_cached_by_subset_across_runs(tmp_path: Path) -> None:
    cache = tmp_path / "cache.json"
    command = 'echo run >> runs.txt; grep -qx b.c "$HARNESS_BISECT_CANDIDATE" && exit 1; exit 0'
    first = runner(tmp_path, command, cache_file=cache)
    assert first([frozenset({0}), frozenset({1})]) == [Verdict.GOOD, Verdict.BAD]
    again = runner(tmp_path, command, cache_file=cache)
    assert again([frozenset({1}), frozenset({0})]) == [Verdict.BAD, Verdict.GOOD]
    assert runs(tmp_path) == 2
    assert all(r.cached for r in again.records) and again.cached(frozenset({1}))


def runs(tmp_path: Path) -> int:
    path = tmp_path / "runs.txt"
    return path.read_text().count("run") if path.exists() else 0


def test_a_different_cache_key_starts_afresh_and_confirmation_never_reads_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache.json"
    command = 'echo run >> runs.txt; ! grep -qx b.c "$HARNESS_BISECT_CANDIDATE"'
    runner(tmp_path, command, cache_file=cache, cache_key="sha256:aaa")([frozenset({1})])
    assert runs(tmp_path) == 1
    runner(tmp_path, command, cache_file=cache, cache_key="sha256:aaa")([frozenset({1})])
    assert runs(tmp_path) == 1  # same key: cached
    runner(tmp_path, command, cache_file=cache, cache_key="sha256:bbb")([frozenset({1})])
    assert runs(tmp_path) == 2  # another candidate tool: probed
    same = runner(tmp_path, command, cache_file=cache, cache_key="sha256:aaa")
    assert same.fresh([frozenset({1})]) == [Verdict.BAD]
    assert runs(tmp_path) == 3 and same.records[0].kind and not same.records[0].cached


def test_each_probe_keeps_its_log_and_candidate_list_the_latest_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(probe_module, "KEEP_LOGS", 3)
    logs = tmp_path / "logs"
    probe = runner(tmp_path, 'echo "building $(cat "$HARNESS_BISECT_CANDIDATE")"; exit 1', logs=logs)
    probe([frozenset({0}), frozenset({1}), frozenset({2}), frozenset({0, 2})])
    assert sorted(p.name for p in logs.iterdir()) == ["0002", "0003", "0004"]
    assert (logs / "0004" / "output.log").read_text() == "building a.c\nc.c\n"
    assert (logs / "0004" / "candidate.txt").read_text() == "a.c\nc.c\n"
    assert probe.records[-1].log == logs / "0004" / "output.log"


def test_jobs_run_probes_at_the_same_time_in_different_slots(tmp_path: Path) -> None:
    # Each probe waits (up to 20s) for the other's marker: serial probes would time out.
    script = (
        'touch "mark.$HARNESS_BISECT_SLOT"; other=$((1 - HARNESS_BISECT_SLOT)); '
        'for i in $(seq 200); do [ -e "mark.$other" ] && exit 0; sleep 0.1; done; exit 125'
    )
    probe = runner(tmp_path, script, jobs=2, repeats=1)
    assert probe([frozenset({0}), frozenset({1})]) == [Verdict.GOOD, Verdict.GOOD]


# -- the command ------------------------------------------------------------------

UNITS = [f"u{i}.c" for i in range(12)]


def units_file(tmp_path: Path, units: list[str] = UNITS) -> Path:
    path = tmp_path / "units.txt"
    path.write_text("# units\n" + "\n".join(units) + "\n")
    return path


def fails_with(*units: str) -> str:
    """A probe failing when any listed unit comes from the candidate."""
    pattern = " ".join(f"-e {u}" for u in units)
    return f'! grep -qx {pattern} "$HARNESS_BISECT_CANDIDATE"'


def test_bisect_prints_the_culprits_and_json_counts_the_probes(tmp_path: Path) -> None:
    units = units_file(tmp_path)
    text = run_harness("bisect", "--units", str(units), "--probe", fails_with("u3.c", "u9.c"), cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "  u3.c\n  u9.c\n" in text.stdout and "confirmed" in text.stdout
    assert "probe 1 (sanity): 0/12 units from the candidate -> good" in text.stderr
    assert "1/12 units from the candidate (u3.c) -> bad" in text.stderr  # a few units are named
    assert "(confirmation): 1/12 units from the candidate (u9.c) -> bad" in text.stderr
    as_json = run_harness(
        "bisect", "--units", str(units), "--probe", fails_with("u3.c", "u9.c"), "--json", "-j", "2", cwd=tmp_path
    )
    data = json.loads(as_json.stdout)
    assert data["status"] == "found" and data["culprits"] == ["u3.c", "u9.c"]
    assert data["probes"] == len(as_json.stderr.strip().splitlines())
    assert 2 <= data["confirmation_probes"] <= 2 + 2 and data["cached"] == 0
    assert data["confirmed"] is True and data["contradictions"] == []


def test_units_failing_only_together_come_out_as_a_list(tmp_path: Path) -> None:
    probe = 'c="$HARNESS_BISECT_CANDIDATE"; ! { grep -qx u2.c "$c" && grep -qx u7.c "$c"; }'
    result = run_harness("bisect", "--units", str(units_file(tmp_path)), "--probe", probe, "--json", cwd=tmp_path)
    assert json.loads(result.stdout)["culprits"] == [["u2.c", "u7.c"]]


def test_crashing_hanging_and_unsure_probes_are_reported_never_guessed(tmp_path: Path) -> None:
    # u3.c is a real culprit; a build with u5.c hangs, one with u8.c crashes the probe,
    # one with u10.c cannot be judged. Only u3.c may be named; the rest are undecided.
    probe = (
        'c="$HARNESS_BISECT_CANDIDATE"; grep -qx u3.c "$c" && exit 1; '
        'grep -qx u5.c "$c" && sleep 60; grep -qx u8.c "$c" && kill -KILL $$; '
        'grep -qx u10.c "$c" && exit 125; exit 0'
    )
    result = run_harness(
        "bisect", "--units", str(units_file(tmp_path)), "--probe", probe, "--timeout", "0.5", "--json", cwd=tmp_path
    )
    assert result.returncode == 7
    data = json.loads(result.stdout)
    assert data["status"] == "undecided" and not data["nondeterministic"]
    assert data["culprits"] == ["u3.c"]
    assert data["undecided"] == ["u5.c", "u8.c", "u10.c"]
    assert data["confirmed"] is False
    reasons = " ".join(p["reason"] for p in data["undecided_probes"])
    assert "timed out" in reasons and "SIGKILL" in reasons and "125" in reasons
    assert result.stderr.strip().splitlines()[-1].startswith("error: undecided: the probe could not tell for 3")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("probe", "message"),
    [
        ("exit 1", "sanity: the probe does not pass with every unit from the oracle (exit 1)"),
        ("exit 0", "sanity: the probe passes with every unit from the candidate"),
    ],
)
def test_failed_sanity_probes_give_one_clear_line(tmp_path: Path, probe: str, message: str) -> None:
    result = run_harness("bisect", "--units", str(units_file(tmp_path)), "--probe", probe, cwd=tmp_path)
    assert result.returncode == 8
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {message}")
    assert "Traceback" not in result.stderr
    as_json = run_harness("bisect", "--units", str(units_file(tmp_path)), "--probe", probe, "--json", cwd=tmp_path)
    assert as_json.returncode == 8
    error = as_json.stderr.split("error: ")[-1].strip()
    assert json.loads(as_json.stdout) == {"status": "sanity-failed", "error": error}


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--units", "missing.txt", "--probe", "exit 0"], 1, "--units missing.txt: cannot read it"),
        (["--units", "units.txt", "--probe", "exit 0", "--jobs", "zero"], 2, "'zero' is not a valid integer"),
        (["--units", "units.txt", "--probe", "x", "--candidate", "nope"], 1, "--candidate nope: cannot read it"),
    ],
)
def test_json_gets_an_object_with_the_error_on_every_failure(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    units_file(tmp_path)
    result = run_harness("bisect", *args, "--json", cwd=tmp_path)
    assert result.returncode == code, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "error" and message in data["error"]


def test_a_bad_units_file_names_the_line(tmp_path: Path) -> None:
    units = units_file(tmp_path, ["a.c", "b.c", "a.c"])
    result = run_harness("bisect", "--units", str(units), "--probe", "exit 0", cwd=tmp_path)
    assert result.returncode == 1
    assert f"{units}:4: unit 'a.c' is listed again (first on line 2)" in result.stderr


def test_emit_tasks_writes_one_claimable_spec_per_culprit(work: WorkRepo, tmp_path: Path) -> None:
    probe = (
        fails_with("u1.c") + ' && { c="$HARNESS_BISECT_CANDIDATE"; ! { grep -qx u4.c "$c" && grep -qx u6.c "$c"; }; }'
    )
    result = run_harness(
        "bisect", "--units", str(units_file(tmp_path)), "--probe", probe,
        "--emit-tasks", "--repo", str(work.first_clone), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    specs = sorted((work.first_clone / "tasks").glob("bisect-*.yaml"))
    assert [p.name for p in specs] == ["bisect-u1.c.yaml", "bisect-u4.c--u6.c.yaml"]
    pair = parse_spec(f"tasks/{specs[1].name}", specs[1].read_bytes())
    assert "u4.c + u6.c together" in pair.title and "HARNESS_BISECT_CANDIDATE" in pair.body
    claim = run_harness("claim", "bisect-u1.c", "--agent", "core-dev-01", cwd=work.first_clone)
    assert claim.returncode == 0, claim.stderr


def test_random_split_agents_start_from_different_parts(tmp_path: Path) -> None:
    units = units_file(tmp_path, [f"u{i}.c" for i in range(40)])
    probe = fails_with("u3.c", "u30.c")
    seen = set()
    for agent in ("core-dev-01", "core-dev-02", "core-dev-03", "core-dev-04"):
        result = run_harness(
            "bisect", "--units", str(units), "--probe", probe, "--random-split", "0.5",
            "--agent", agent, "--json", "--quiet", cwd=tmp_path,
        )  # fmt: skip
        data = json.loads(result.stdout)
        assert set(data["culprits"]) <= {"u3.c", "u30.c"} and data["culprits"]
        seen.add(tuple(data["culprits"]))
    assert len(seen) > 1  # not every agent converges on the same culprit first
