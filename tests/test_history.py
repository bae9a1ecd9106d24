"""`harness history` on histories with known answers: every statistic checked exactly.

The synthetic history is the mess real fleets leave: harness YAML locks next to free-form
`.txt` and `.md` locks, an in-place status edit, a release marked done, a re-claim of a
used name, a reclaim by trailer, a merge from a side branch (whose own churn must not
count), a sweep deleting four locks in one commit, an abandoned release, one lock still open.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.history.query import run_history
from harness.locks.lockfile import Lock
from harness.workspace import open_workspace
from tests.conftest import WorkRepo, commit_file, git, run_harness

T0 = 1_700_000_000  # 2023-11-14T22:13:20Z


def _lock(task: str, agent: str, role: str, nonce: str, generation: int = 1) -> str:
    lock = Lock(
        task=task,
        agent=agent,
        role=role,
        host="box",
        nonce=nonce,
        generation=generation,
        claimed_at=float(T0),
        lease_seconds=1800,
    )
    return lock.to_yaml().decode()


def _commit(repo: Path, t: int, message: str, files: dict[str, str | None], author: str = "Test User") -> None:
    for path, text in files.items():
        if text is None:
            git(repo, "rm", "-q", path)
        else:
            (repo / path).parent.mkdir(parents=True, exist_ok=True)
            (repo / path).write_text(text)
            git(repo, "add", path)
    _git_at(repo, t, author, "commit", "-q", "--allow-empty", "-m", message)


def _git_at(repo: Path, t: int, author: str, *args: str) -> None:
    stamp = f"@{T0 + t} +0000"
    env = {**os.environ, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
    env |= {"GIT_AUTHOR_NAME": author, "GIT_COMMITTER_NAME": author}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    return build_messy(tmp_path / "messy")


def build_messy(repo: Path) -> Path:
    """A plain repository harness never touched (no origin, no harness.yaml)."""
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    _commit(repo, 0, "init", {"current_tasks/README.md": "locks\n", "src/x.c": "int x;\n"})
    _commit(
        repo,
        60,
        "claim: a\n\nHarness-Agent: core-dev-01\nHarness-Nonce: n1",
        {"current_tasks/a.lock": _lock("a", "core-dev-01", "core-dev", "n1")},
        author="core-dev-01",
    )
    _commit(repo, 120, "taking b", {"current_tasks/b.txt": "Working on b. claimed by alice\n"}, "Alice Person")
    _commit(repo, 300, "c", {"current_tasks/c.md": "notes without a name\n"}, "bob")
    _commit(repo, 600, "b status", {"current_tasks/b.txt": "Working on b. claimed by alice\nstatus: half\n"}, "alice")
    _commit(repo, 1000, "release: a (done)\n\nHarness-Agent: core-dev-01", {"current_tasks/a.lock": None})
    _commit(repo, 1200, "claim: a", {"current_tasks/a.lock": _lock("a", "core-dev-02", "core-dev", "n2")})
    _commit(
        repo,
        2000,
        "reclaim: a\n\nHarness-Agent: core-dev-03\nHarness-Nonce: n3\nHarness-Reclaims: n2",
        {"current_tasks/a.lock": _lock("a", "core-dev-03", "core-dev", "n3", 2)},
    )
    # A side branch: its own claim-and-release churn never reached main as such.
    git(repo, "checkout", "-q", "-b", "side")
    _commit(repo, 2010, "claim: x", {"current_tasks/x.lock": _lock("x", "perf-02", "perf", "nx")}, "Side Dev")
    _commit(repo, 2020, "release: x (done)", {"current_tasks/x.lock": None}, "Side Dev")
    _commit(repo, 2100, "claim: d", {"current_tasks/d.lock": _lock("d", "perf-01", "perf", "nd")}, "Side Dev")
    git(repo, "checkout", "-q", "main")
    _commit(repo, 2200, "work on main", {"src/y.c": "int y;\n"})
    _git_at(repo, 2300, "Merger", "merge", "-q", "--no-ff", "-m", "Merge side", "side")
    _commit(
        repo,
        3000,
        "two at once",
        {
            "current_tasks/e.lock": _lock("e", "core-dev-01", "core-dev", "ne"),
            "current_tasks/f.txt": "locked by: carol",
        },
    )
    sweep = dict.fromkeys(["current_tasks/b.txt", "current_tasks/c.md", "current_tasks/e.lock", "current_tasks/f.txt"])
    _commit(repo, 4000, "clean up stale locks", sweep, "janitor")
    _commit(repo, 5000, "release: d (abandoned)\n\nHarness-Agent: perf-01", {"current_tasks/d.lock": None}, "perf-01")
    return repo


def _stats(repo: Path, now_offset: int, since: str | None = None) -> dict[str, Any]:
    return run_history(open_workspace(repo, "tester"), since=since, now=T0 + now_offset).stats


def test_every_statistic_of_a_messy_foreign_history_is_exact(messy: Path) -> None:
    s = _stats(messy, 2000 + 100)
    assert s["commits"] == 12  # every first-parent commit touching current_tasks/, the merge included
    assert (s["claims"], s["reclaims"], s["releases"], s["swept"], s["sweeps"]) == (7, 1, 2, 4, 1)
    assert (s["fenced"], s["updates"], s["unmatched_releases"]) == (1, 1, 0)
    assert s["outcomes"] == {"swept": 4, "done": 1, "abandoned": 1}
    # Ended holds: a 940 (done), a 800 (reclaimed), b 3880, c 3700, e 1000, f 1000 (swept), d 2700.
    assert s["hold_seconds"] == {"count": 7, "median": 1000, "p90": 3880, "max": 3880, "mean": 2002.9}
    assert s["hold_seconds_by_end"]["release"]["count"] == 2
    assert s["hold_seconds_by_end"]["sweep"]["median"] == 2350
    assert (s["max_open"], s["max_open_at"]) == (6, "2023-11-14T23:03:20Z")
    assert (s["repeat_claims"], s["most_claimed"]) == (1, [{"task": "a", "claims": 2}])
    assert s["open_now"] == [
        {
            "task": "a",
            "path": "current_tasks/a.lock",
            "agent": "core-dev-03",
            "role": "core-dev",
            "since": "2023-11-14T22:46:40Z",
            "age_seconds": 100,
            "silent_seconds": 100,
            "stale_after_seconds": 1800 + 300 + 120,
            "stale": False,
        }
    ]
    assert s["loop"] is None and s["hours"] == round(5000 / 3600, 3)


def test_agents_come_from_lock_content_else_trailer_else_author(messy: Path) -> None:
    agents = {row["name"]: row for row in _stats(messy, 2100)["agents"]}
    assert set(agents) == {"core-dev-01", "core-dev-02", "core-dev-03", "alice", "bob", "carol", "perf-01"}
    assert "perf-02" not in agents  # the side branch's churn is not main's history
    one = agents["core-dev-01"]
    assert (one["claims"], one["releases"], one["done"], one["swept"], one["hold_median"]) == (2, 1, 1, 1, 970)
    assert (agents["core-dev-02"]["fenced"], agents["core-dev-03"]["reclaims"]) == (1, 1)
    assert (agents["perf-01"]["abandoned"], agents["perf-01"]["held_seconds"]) == (1, 2700)
    assert agents["alice"]["swept"] == 1 and agents["bob"]["swept"] == 1
    assert one["releases_per_hour"] == round(1 / round(5000 / 3600, 3), 3)
    roles = {row["name"]: row for row in _stats(messy, 2100)["roles"]}
    assert (roles["core-dev"]["claims"], roles["core-dev"]["reclaims"], roles["perf"]["releases"]) == (3, 1, 1)
    assert roles["-"]["claims"] == 3  # alice, bob, carol: no role in the lock, none in the name


def test_open_lock_turns_stale_after_lease_grace_and_skew(messy: Path) -> None:
    fresh = _stats(messy, 2000 + 2220)["open_now"][0]
    stale = _stats(messy, 2000 + 2221)["open_now"][0]
    assert (fresh["stale"], stale["stale"]) == (False, True)


def test_since_restricts_events_but_keeps_locks_carried_in(messy: Path) -> None:
    s = _stats(messy, 2100, since="2023-11-14T22:55:00Z")  # T0 + 2500
    assert (s["claims"], s["reclaims"], s["releases"], s["swept"], s["sweeps"]) == (2, 0, 1, 4, 1)
    assert s["hold_seconds"] == {"count": 5, "median": 2700, "p90": 3880, "max": 3880, "mean": 2456.0}
    assert s["max_open"] == 6 and s["repeat_claims"] == 0
    late = _stats(messy, 2100, since="2023-11-14T23:30:00Z")  # after the sweep: a and d carried in
    assert (late["max_open"], late["claims"], late["releases"]) == (2, 0, 1)


def test_cli_json_and_text_on_a_foreign_repo(messy: Path) -> None:
    proc = run_harness("history", "--json", cwd=messy)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["claims"], data["releases"], data["max_open"], data["open_now"][0]["task"]) == (7, 2, 6, "a")
    assert (data["hold_seconds"]["median"], data["hold_seconds"]["p90"], data["hold_seconds"]["max"]) == (
        1000,
        3880,
        3880,
    )
    assert data["open_now"][0]["stale"] is True  # held since 2023 by today's clock
    text = run_harness("history", cwd=messy)
    assert text.returncode == 0, text.stderr
    assert "claims 7  reclaims 1  releases 2  swept 4 in 1 sweeps" in text.stdout
    assert "open now: 1 (1 stale)" in text.stdout


def test_bad_since_is_a_usage_error_naming_the_option(messy: Path) -> None:
    proc = run_harness("history", "--since", "last tuesday-ish", cwd=messy)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: --since 'last tuesday-ish':") and "Traceback" not in proc.stderr


def test_loop_events_are_summed_and_bad_lines_counted(messy: Path, tmp_path: Path) -> None:
    from harness.loop.events import IterationEvent, IterationOutcome, append_event

    events = tmp_path / "events.jsonl"
    lines = [
        IterationEvent(
            agent="core-dev-01",
            role="core-dev",
            iteration=1,
            started_at=T0 + 100,
            task="a",
            outcome=IterationOutcome.DONE,
            input_tokens=1000,
            cost_usd=0.5,
        ),
        IterationEvent(
            agent="core-dev-02",
            role="core-dev",
            iteration=1,
            started_at=T0 + 200,
            outcome=IterationOutcome.LOST,
            input_tokens=10,
            output_tokens=5,
        ),
        IterationEvent(
            agent="core-dev-01",
            role="core-dev",
            iteration=2,
            started_at=T0 + 3000,
            outcome=IterationOutcome.REFUSED,
            cost_usd=0.25,
            commits_pushed=2,
        ),
    ]
    for event in lines:
        append_event(events, event)
    with events.open("a") as handle:  # a line the loop did not write, and one torn by a kill
        handle.write(
            '{"time": 1700000000, "agent": "core-dev-03", "outcome": "lost_race", "tokens": 7}\n{"truncated": \n'
        )
    loop = run_history(open_workspace(messy, "tester"), events=events, now=T0 + 6000).stats["loop"]
    assert loop is not None
    assert (loop["iterations"], loop["bad_lines"], loop["lost_races"], loop["refused_pushes"]) == (3, 2, 1, 1)
    assert (loop["tokens"], loop["cost"], loop["commits_pushed"]) == (1015, 0.75, 2)
    assert loop["outcomes"] == {"done": 1, "lost": 1, "refused": 1}
    missing = run_harness("history", "--events", str(tmp_path / "nope.jsonl"), cwd=messy)
    assert missing.returncode == 1 and "--events" in missing.stderr


def test_history_written_by_harness_itself_reads_back(work: WorkRepo) -> None:
    clone = work.clone("a1")
    env = {"HARNESS_AGENT": "core-dev-07"}
    assert run_harness("claim", "t1", "--role", "core-dev", cwd=clone, env=env).returncode == 0
    commit_file(clone, "src/t1.txt", "done\n", "do t1")
    assert run_harness("release", "t1", "--done", cwd=clone, env=env).returncode == 0
    assert run_harness("claim", "t2", cwd=clone, env=env).returncode == 0
    other = work.clone("other")  # history reads the upstream, not the clone's stale main
    proc = run_harness("history", "--json", cwd=other)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["claims"], data["releases"], data["outcomes"]) == (2, 1, {"done": 1})
    assert [row["name"] for row in data["agents"]] == ["core-dev-07"]
    assert data["agents"][0]["done"] == 1 and data["open_now"][0]["task"] == "t2"


def test_events_written_by_the_loop_itself_are_read(messy: Path, tmp_path: Path) -> None:
    from harness.loop.events import IterationEvent, IterationOutcome, append_event

    path = tmp_path / "agent_logs" / "events.jsonl"
    first = IterationEvent(agent="core-dev-01", role="core-dev", iteration=1, started_at=T0)
    for event in (
        replace(first, outcome=IterationOutcome.DONE, input_tokens=700, output_tokens=300),
        replace(first, iteration=2, outcome=IterationOutcome.LOST, claims_lost=2, cost_usd=0.5),
        replace(first, iteration=3, outcome=IterationOutcome.REFUSED, pushes_refused=1, duration_seconds=9),
    ):
        append_event(path, event)
    result = run_history(open_workspace(messy, "tester"), events=path, now=T0 + 6000)
    loop = result.stats["loop"]
    assert (loop["iterations"], loop["tokens"], loop["cost"], loop["lost_races"], loop["refused_pushes"]) == (
        3,
        1000,
        0.5,
        2,
        1,
    )
    assert result.events is not None and [e.ended_at for e in result.events.events][-1] == T0 + 9


def test_tests_passing_come_from_the_gates_baselines_on_the_upstream(work: WorkRepo) -> None:
    from harness.gate.baseline import Baseline, BaselineStore

    clone = work.clone("a1")
    store = BaselineStore(work.upstream / "harness" / "baseline")
    tips = []
    for n in (3, 5):
        commit_file(clone, f"src/f{n}.txt", "x\n", f"work {n}")
        git(clone, "push", "-q", "origin", "HEAD:main")  # the upstream's gate writes its baselines
        tips.append(git(clone, "rev-parse", "HEAD").strip())
    for tip, n in zip(tips, (3, 5), strict=True):  # as if those tips had passed 3 and 5 tests
        store.save(Baseline(tip, frozenset(f"t{i}" for i in range(n))))
    (store.directory / "garbage.json").write_text("{not json")
    result = run_history(open_workspace(work.clone("reader"), "tester"))
    assert [(p.tip, p.passed) for p in result.tests][-2:] == [(tips[0], 3), (tips[1], 5)]
    assert result.stats["tests"] == {"points": len(result.tests), "latest_passed": 5, "latest_tip": tips[1]}


def test_counts_match_a_tree_by_tree_replay_of_a_generated_history(tmp_path: Path) -> None:
    """An independent oracle: list current_tasks/ at every first-parent commit with ls-tree."""
    from benchmarks.history import build

    repo = tmp_path / "gen"
    build(repo, lock_commits=300, work_per_lock=1, seed=11)
    trees: list[dict[str, str]] = []
    for sha in git(repo, "rev-list", "--first-parent", "--reverse", "main").split():
        listing = git(repo, "ls-tree", sha, "current_tasks/")
        entries = (line.split("\t") for line in listing.splitlines())
        trees.append({path: meta.split()[2] for meta, path in entries if not path.endswith("README.md")})
    added = removed = edited = 0
    for before, after in zip([{}, *trees], trees, strict=False):
        added += len(after.keys() - before.keys())
        removed += len(before.keys() - after.keys())
        edited += sum(1 for p in after.keys() & before.keys() if after[p] != before[p])
    s = _stats(repo, 0)
    assert (s["claims"], s["releases"] + s["swept"], s["updates"]) == (added, removed, edited)
    assert s["max_open"] == max(len(t) for t in trees)
    assert sorted(row["path"] for row in s["open_now"]) == sorted(trees[-1])
