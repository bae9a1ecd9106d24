"""The merge queue on a real gated upstream: real clones submit with the real CLI, a real
runner process tests batches with the gate's verifier and moves main."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.conftest import WorkRepo, commit_file, git, run_harness, wait_until

CONFIG = """\
version: 1
branch: main
tests:
  runner: files
  glob: "t/*.sh"
  run: "sh {test}"
  workers: 2
  timeout_seconds: 60
queue:
  enabled: true
  parallel: 2
tasks:
  max_attempts: 3
"""
TASKS = [f"t{i}" for i in range(1, 9)]


@pytest.fixture
def queued(work: WorkRepo) -> WorkRepo:
    """Main with a passing suite (t/b.sh checks src/b.txt), eight task specs, the queue on."""
    clone = work.first_clone
    files = {
        "harness.yaml": CONFIG,
        "t/a.sh": "exit 0\n",
        "t/b.sh": 'grep -qx ok src/b.txt || { echo "src/b.txt: wanted ok, got $(cat src/b.txt)"; exit 1; }\n',
        "t/c.sh": 'grep -qx ok src/c.txt || { echo "src/c.txt: wanted ok"; exit 1; }\n',
        "src/b.txt": "ok\n",
        "src/c.txt": "ok\n",
        **{f"tasks/{t}.yaml": f"title: task {t}\nstatus: open\n" for t in TASKS},
    }
    for path, text in files.items():
        (clone / path).parent.mkdir(parents=True, exist_ok=True)
        (clone / path).write_text(text)
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "project with a suite and tasks")
    pushed = subprocess.run(
        ["git", "push", "-q", "origin", "HEAD:main"],
        cwd=clone,
        env={**os.environ, "HARNESS_ROLE": "lead"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert pushed.returncode == 0, pushed.stderr
    return work


def submit(work: WorkRepo, task: str, path: str, text: str) -> subprocess.CompletedProcess[str]:
    """An agent's iteration by hand: claim, commit work, release --done (which submits)."""
    clone = work.base / "clones" / task
    if not clone.exists():
        work.clone(task)
    env = {"HARNESS_AGENT": f"agent-{task}", "HARNESS_ROLE": "core-dev"}
    claimed = run_harness("claim", task, "--role", "core-dev", cwd=clone, env=env)
    assert claimed.returncode == 0, claimed.stderr
    git(clone, "pull", "-q", "--rebase", "origin", "main")
    commit_file(clone, path, text, f"{task}: work")
    return run_harness("release", task, "--done", cwd=clone, env=env)


def submit_all(work: WorkRepo, changes: dict[str, tuple[str, str]]) -> None:
    """Every submission at once, from its own clone and process."""
    with ThreadPoolExecutor(len(changes)) as pool:
        results = list(pool.map(lambda item: submit(work, item[0], *item[1]), changes.items()))
    for result in results:
        assert result.returncode == 0 and "merge queue" in result.stdout, result.stdout + result.stderr


def run_queue(work: WorkRepo, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_harness("queue", "run", "--until-empty", *extra, cwd=work.first_clone, timeout=600)


def queue_refs(work: WorkRepo) -> list[str]:
    return work.upstream_git("for-each-ref", "--format=%(refname)", "refs/harness/queue/").split()


def journal(work: WorkRepo) -> dict[str, object]:
    data: dict[str, object] = json.loads((work.upstream / "harness" / "queue" / "journal.json").read_text())
    return data


def spec(work: WorkRepo, task: str) -> dict[str, object]:
    text = work.upstream_file(f"tasks/{task}.yaml")
    assert text is not None
    data: dict[str, object] = yaml.safe_load(text)
    return data


def locks(work: WorkRepo) -> list[str]:
    names = work.upstream_git("ls-tree", "--name-only", "main", "current_tasks/").split()
    return [p for p in names if p.endswith(".lock")]


def test_eight_concurrent_submissions_land_in_one_suite_run(queued: WorkRepo) -> None:
    submit_all(queued, {t: (f"src/{t}.txt", f"{t}\n") for t in TASKS})
    assert len(queue_refs(queued)) == 8 and len(locks(queued)) == 8  # queued: still held
    result = run_queue(queued)
    assert result.returncode == 0, result.stdout + result.stderr
    for t in TASKS:
        assert queued.upstream_file(f"src/{t}.txt") == f"{t}\n"
        assert spec(queued, t)["status"] == "done"
    assert queue_refs(queued) == [] and locks(queued) == []
    assert journal(queued)["suite_runs"] == 1, result.stdout


def test_one_breaking_change_is_refused_by_name_and_the_other_seven_land(queued: WorkRepo) -> None:
    changes = {t: (f"src/{t}.txt", f"{t}\n") for t in TASKS}
    changes["t5"] = ("src/b.txt", "broken\n")
    submit_all(queued, changes)
    result = run_queue(queued)
    assert result.returncode == 0, result.stderr
    assert "ERROR t5: refused by the merge queue" in result.stdout
    assert "ERROR t/b.sh: regression" in result.stdout and "wanted ok, got broken" in result.stdout
    assert queued.upstream_file("src/b.txt") == "ok\n"
    for t in TASKS:
        if t != "t5":
            assert spec(queued, t)["status"] == "done", result.stdout
    refused = spec(queued, "t5")
    assert refused["status"] == "open" and refused["attempts"] == 1
    assert any("t/b.sh" in line for line in refused["refusals"])  # type: ignore[attr-defined]
    assert locks(queued) == []  # handed back: claimable again
    kept = queued.upstream_git("for-each-ref", "--format=%(refname)", "refs/harness/refused/").split()
    assert len(kept) == 1 and "t5" in kept[0]
    assert queued.upstream_git("show", f"{kept[0]}:src/b.txt") == "broken\n"  # nothing lost


def test_two_breaking_changes_in_one_batch_are_both_found(queued: WorkRepo) -> None:
    changes = {t: (f"src/{t}.txt", f"{t}\n") for t in TASKS}
    changes["t2"] = ("src/b.txt", "broken\n")
    changes["t7"] = ("src/c.txt", "broken\n")
    submit_all(queued, changes)
    result = run_queue(queued)
    assert result.returncode == 0, result.stderr
    refused = {t for t in TASKS if spec(queued, t)["status"] != "done"}
    assert refused == {"t2", "t7"}, result.stdout
    assert "ERROR t/c.sh: regression" in result.stdout and "ERROR t/b.sh: regression" in result.stdout
    assert all(spec(queued, t)["status"] == "done" for t in TASKS if t not in {"t2", "t7"})


def test_a_conflicting_submission_is_handed_back_with_the_file_named(queued: WorkRepo) -> None:
    submit_all(queued, {"t1": ("src/shared.txt", "one\n"), "t2": ("src/shared.txt", "two\n")})
    result = run_queue(queued)
    assert result.returncode == 0, result.stderr
    landed, lost = sorted(["t1", "t2"], key=lambda t: spec(queued, t)["status"] != "done")
    assert spec(queued, landed)["status"] == "done"
    assert f"ERROR {lost}: conflicts with main in src/shared.txt" in result.stdout
    assert spec(queued, lost)["status"] == "open" and locks(queued) == []


def test_kill_9_of_the_runner_mid_batch_loses_nothing_and_a_new_runner_finishes(
    queued: WorkRepo, shared_dir: Path
) -> None:
    clone = queued.first_clone
    gate_open = shared_dir / "gate-open"  # where the sandboxed tests (another uid) can see it
    commit_file(clone, "t/slow.sh", f"while [ ! -e '{gate_open}' ]; do sleep 0.05; done\n", "a test that waits")
    subprocess.run(["git", "pull", "-q", "--rebase", "origin", "main"], cwd=clone, check=True)
    gate_open.touch()  # the push's own gate run passes; the batch's will wait
    pushed = subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=clone, capture_output=True, text=True)
    assert pushed.returncode == 0, pushed.stderr
    submit_all(queued, {t: (f"src/{t}.txt", f"{t}\n") for t in TASKS[:4]})
    gate_open.unlink()
    runner = subprocess.Popen(
        [sys.executable, "-m", "harness", "queue", "run"], cwd=clone, start_new_session=True, stdout=subprocess.PIPE
    )
    wait_until(lambda: bool(journal_or_empty(queued).get("testing")), "the runner to start testing a batch")
    os.killpg(runner.pid, signal.SIGKILL)
    runner.wait()
    assert len(queue_refs(queued)) == 4 and locks(queued) != []  # nothing landed untested, nothing lost
    gate_open.touch()
    result = run_queue(queued)
    assert result.returncode == 0, result.stderr
    assert all(spec(queued, t)["status"] == "done" for t in TASKS[:4]) and queue_refs(queued) == []


def test_a_batch_tested_on_a_batch_under_test_runs_the_suite_once(queued: WorkRepo, shared_dir: Path) -> None:
    """Speculation: t2's batch is built on t1's head while t1's is under test, and its own run
    ends first. Its base has no baseline yet: it waits for t1's verdict (the same tree,
    measured once) instead of running the suite there a second time."""
    clone = queued.first_clone
    first, second = shared_dir / "open-t1", shared_dir / "open-t2"  # sandboxed tests can see these
    slow = f"f={first}; [ -e src/t2.txt ] && f={second}; while [ ! -e $f ]; do sleep 0.05; done\n"
    commit_file(clone, "t/slow.sh", slow, "a test that waits for the test to let it finish")
    subprocess.run(["git", "pull", "-q", "--rebase", "origin", "main"], cwd=clone, check=True)
    first.touch()
    pushed = subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=clone, capture_output=True, text=True)
    assert pushed.returncode == 0, pushed.stderr
    first.unlink()  # from here on t1's tree waits for open-t1, t2's (which has src/t2.txt) for open-t2
    runs_before = len(gate_runs(queued))
    runner = subprocess.Popen(
        [sys.executable, "-m", "harness", "queue", "run"], cwd=clone, start_new_session=True, stdout=subprocess.PIPE
    )
    try:
        assert submit(queued, "t1", "src/t1.txt", "t1\n").returncode == 0
        wait_until(lambda: under_test(queued) == ["t1"], "t1's batch under test")
        assert submit(queued, "t2", "src/t2.txt", "t2\n").returncode == 0
        wait_until(lambda: under_test(queued) == ["t1", "t2"], "t2 tested on top of t1")
        second.touch()
        wait_until(lambda: len(gate_runs(queued)) > runs_before, "t2's own run to end (t1's still waits)")
        first.touch()
        wait_until(lambda: not queue_refs(queued), "both batches to land")
    finally:
        runner.send_signal(signal.SIGTERM)
        runner.wait(timeout=60)
    assert [queued.upstream_file(f"src/{t}.txt") for t in ("t1", "t2")] == ["t1\n", "t2\n"]
    runs = [str(entry["run"]) for entry in gate_runs(queued)[runs_before:] if entry["full"]]
    assert len(runs) == 2 and all(run.startswith("gate-") for run in runs), runs


def test_an_idle_runner_measures_mains_baseline_ahead_of_the_first_batch(queued: WorkRepo) -> None:
    """main's tip has no baseline (the push that configured tests ran none): the runner measures
    it while nothing is queued, and the first batch then runs the suite once, for itself."""
    runs_before = len(gate_runs(queued))
    tip = queued.upstream_git("rev-parse", "main").strip()
    runner = subprocess.Popen(
        [sys.executable, "-m", "harness", "queue", "run"], cwd=queued.first_clone, start_new_session=True,
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_until(lambda: any(e["run"] == f"baseline-{tip[:12]}" for e in gate_runs(queued)), "main measured ahead")
        assert submit(queued, "t1", "src/t1.txt", "t1\n").returncode == 0
        wait_until(lambda: not queue_refs(queued), "t1 to land")
    finally:
        runner.send_signal(signal.SIGTERM)
        runner.wait(timeout=60)
    assert queued.upstream_file("src/t1.txt") == "t1\n"
    runs = [str(e["run"]) for e in gate_runs(queued)[runs_before:] if e["full"]]
    assert runs[0] == f"baseline-{tip[:12]}" and [r.split("-")[0] for r in runs[1:]] == ["gate"], runs


def under_test(work: WorkRepo) -> list[str]:
    testing = journal_or_empty(work).get("testing") or []
    return [str(entry["task"]) for entry in testing]  # type: ignore[attr-defined]


def gate_runs(work: WorkRepo) -> list[dict[str, object]]:
    path = work.upstream / "harness" / "gate-runs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def journal_or_empty(work: WorkRepo) -> dict[str, object]:
    try:
        return journal(work)
    except (OSError, ValueError):
        return {}


def test_a_task_refused_three_times_is_blocked_and_cannot_be_claimed(queued: WorkRepo) -> None:
    for attempt in range(1, 4):
        result = submit(queued, "t3", "src/b.txt", f"broken {attempt}\n")
        assert result.returncode == 0, result.stderr
        ran = run_queue(queued)
        assert ran.returncode == 0, ran.stderr
        assert spec(queued, "t3")["attempts"] == attempt
    assert spec(queued, "t3")["status"] == "blocked"
    again = run_harness("claim", "t3", cwd=queued.clone("late"))
    assert again.returncode == 4 and "blocked after 3 refused attempt(s)" in again.stderr


def test_a_second_runner_refuses_while_the_first_serves(queued: WorkRepo) -> None:
    first = subprocess.Popen(
        [sys.executable, "-m", "harness", "queue", "run"],
        cwd=queued.first_clone,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert first.stdout is not None and "queue: serving" in first.stdout.readline()
        second = run_harness("queue", "run", cwd=queued.first_clone)
        assert second.returncode == 1 and "another queue runner" in second.stderr and str(first.pid) in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=60)
    assert first.returncode == 0


def three_builtin_tasks(work: WorkRepo) -> Path:
    """main's eight specs replaced by three the builtin agent can do (w1..w3); a clone for the loop."""
    clone = work.first_clone
    for t in ("w1", "w2", "w3"):
        (clone / "tasks" / f"{t}.yaml").write_text(f"title: {t}\nbody: |\n  @write src/{t}.txt\n  {t}\n  @end\n")
    git(clone, "rm", "-q", *[f"tasks/{t}.yaml" for t in TASKS])
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "three tasks for the builtin agent")
    git(clone, "push", "-q", "origin", "HEAD:main")
    return work.clone("loop")


def test_a_loop_submits_and_goes_on_without_waiting_for_tests(queued: WorkRepo) -> None:
    clone = queued.first_clone
    agent = three_builtin_tasks(queued)
    runner = subprocess.Popen(
        [sys.executable, "-m", "harness", "queue", "run"], cwd=clone, start_new_session=True, stdout=subprocess.PIPE
    )
    try:
        loop = run_harness(
            "loop", "--role", "core-dev", "--backend", "builtin", "--agent", "a1", "--exit-when-idle",
            "--idle-backoff", "0.1", cwd=agent, env={"HARNESS_ROLE": "core-dev"}, timeout=300,
        )  # fmt: skip
    finally:
        runner.send_signal(signal.SIGTERM)
        runner.wait(timeout=60)
    assert loop.returncode == 0, loop.stdout + loop.stderr
    # A submission is not unpushed work: the next iteration parks nothing and says no ERROR.
    assert "ERROR" not in loop.stdout and "parked" not in loop.stdout, loop.stdout
    events = (agent / "agent_logs" / "events.jsonl").read_text().splitlines()
    # Each task submitted and the loop went straight on; it ended once the runner landed them.
    assert [json.loads(line)["outcome"] for line in events] == ["queued", "queued", "queued"]
    assert [queued.upstream_file(f"src/{t}.txt") for t in ("w1", "w2", "w3")] == ["w1\n", "w2\n", "w3\n"]
    assert locks(queued) == [] and queue_refs(queued) == []
    # At most one run per batch (main's baseline, measured ahead while idle, is not a batch's).
    batches = [e for e in gate_runs(queued) if e["full"] and str(e["run"]).startswith("gate-")]
    assert 1 <= len(batches) <= 3 and int(journal(queued)["suite_runs"]) <= len(batches) + 1  # type: ignore[call-overload]


def test_a_loop_submission_carries_its_next_claim_in_the_same_push(queued: WorkRepo, tmp_path: Path) -> None:
    """One trip through the upstream per iteration, as without the queue: each submission's
    push also claims the next task (the first claim and the last submission go alone)."""
    agent = three_builtin_tasks(queued)
    pushes = tmp_path / "pushes"  # one line per receive-pack the agent's clone starts
    git(agent, "config", "remote.origin.receivepack", f"echo push >> {pushes}; git-receive-pack")
    loop = run_harness(
        "loop", "--role", "core-dev", "--backend", "builtin", "--agent", "a1", "--max-iterations", "3",
        cwd=agent, env={"HARNESS_ROLE": "core-dev"}, timeout=300,
    )  # fmt: skip
    assert loop.returncode == 0, loop.stdout + loop.stderr
    events = [json.loads(line) for line in (agent / "agent_logs" / "events.jsonl").read_text().splitlines()]
    assert [e["outcome"] for e in events] == ["queued", "queued", "queued"]
    assert sorted(ref.rsplit("/", 1)[1] for ref in queue_refs(queued)) == ["w1", "w2", "w3"]
    # claim w1; w1's submission + claim of w2; w2's + claim of w3; w3's alone: 4 pushes, not 6.
    assert len(pushes.read_text().splitlines()) == 4, loop.stdout
    assert run_queue(queued).returncode == 0
    assert [queued.upstream_file(f"src/{t}.txt") for t in ("w1", "w2", "w3")] == ["w1\n", "w2\n", "w3\n"]


def test_status_shows_a_submitted_task_as_queued_and_queue_status_lists_it(queued: WorkRepo) -> None:
    assert submit(queued, "t1", "src/t1.txt", "t1\n").returncode == 0
    shown = run_harness("status", "--json", cwd=queued.clone("viewer"))
    assert shown.returncode == 0, shown.stderr
    (row,) = json.loads(shown.stdout)["locks"]
    assert row["task"] == "t1" and row["queued"] is True and row["stale"] is False
    assert "queued" in run_harness("status", cwd=queued.base / "clones" / "viewer").stdout
    listed = run_harness("queue", "status", "--json", cwd=queued.first_clone)
    assert listed.returncode == 0, listed.stderr
    assert [item["task"] for item in json.loads(listed.stdout)["queued"]] == ["t1"]
    assert run_queue(queued).returncode == 0
    after = json.loads(run_harness("queue", "status", "--json", cwd=queued.first_clone).stdout)
    assert after["queued"] == [] and [(e["task"], e["state"]) for e in after["finished"]] == [("t1", "landed")]
    assert after["suite_runs_per_landed"] == 1.0


def test_up_starts_the_queue_runner_and_down_stops_it(queued: WorkRepo, tmp_path: Path) -> None:
    clone = queued.first_clone
    for t in TASKS:
        (clone / "tasks" / f"{t}.yaml").write_text(f"title: {t}\nbody: |\n  @write src/{t}.txt\n  {t}\n  @end\n")
    git(clone, "commit", "-qam", "tasks for the builtin agent")
    git(clone, "push", "-q", "origin", "HEAD:main")
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    up = run_harness(
        "up", "--roles", "core-dev=3", "--name", "fq", "--backend", "builtin",
        "--loop-arg=--idle-backoff=0.2", cwd=clone, env=env,
    )  # fmt: skip
    assert up.returncode == 0, up.stdout + up.stderr
    assert "queue runner: pid" in up.stdout
    landed = lambda: all(spec(queued, t).get("status") == "done" for t in TASKS)  # noqa: E731
    wait_until(landed, "the fleet and the queue to land every task", 300)
    assert int(journal(queued)["suite_runs"]) < len(TASKS)  # type: ignore[call-overload]
    down = run_harness("down", "--name", "fq", "--timeout", "30", cwd=clone, env=env)
    assert down.returncode == 0 and "stopped the queue runner" in down.stdout, down.stdout + down.stderr
    from harness.queue.service import serving_pid

    wait_until(lambda: serving_pid(queued.upstream) is None, "the queue runner to stop", 60)
