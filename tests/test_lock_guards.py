"""What claims must never do, and tasks that can never be done: foreign content under
current_tasks/, dependency cycles and missing dependencies, leases out of bounds, locks
stamped in the future. Real upstreams, the real CLI."""

from __future__ import annotations

import json
import time

import yaml

from harness.locks.claim import claim
from harness.locks.lockfile import new_nonce
from tests.conftest import WorkRepo, assert_one_line_error, commit_file, git, run_harness
from tests.loophelpers import run, write_task


def push_file(work: WorkRepo, path: str, text: str) -> None:
    """Someone (not harness) commits a file straight to main: fetched into the upstream, past
    its gate, which refuses new foreign content under current_tasks/ (content that was there
    before the gate, or on an ungated upstream, is what the claim must leave alone)."""
    seed = work.clone(f"seed-{time.monotonic_ns()}")
    commit_file(seed, path, text, f"add {path}")
    git(work.upstream, "fetch", "-q", str(seed), "HEAD:refs/heads/main")


def test_claim_never_replaces_a_directory_where_its_lock_would_go(work: WorkRepo) -> None:
    push_file(work, "current_tasks/e1.lock/notes.txt", "my notes\n")
    proc = run_harness("claim", "e1", "--agent", "a1", cwd=work.first_clone)
    assert_one_line_error(proc, 1, "current_tasks/e1.lock is a directory", "move it out of current_tasks/")
    assert work.upstream_file("current_tasks/e1.lock/notes.txt") == "my notes\n"
    assert run_harness("claim", "e2", "--agent", "a1", cwd=work.first_clone).returncode == 0  # others are fine
    assert work.upstream_file("current_tasks/e1.lock/notes.txt") == "my notes\n"
    status = run_harness("status", cwd=work.first_clone)
    assert "current_tasks/e1.lock" in status.stdout


def test_claim_never_replaces_a_file_named_current_tasks(work: WorkRepo) -> None:
    seed = work.clone("seed")
    git(seed, "rm", "-rq", "current_tasks")
    commit_file(seed, "current_tasks", "a file, not the lock directory\n", "oops")
    git(seed, "push", "-q", "origin", "HEAD:main")
    proc = run_harness("claim", "t1", "--agent", "a1", cwd=work.first_clone)
    assert_one_line_error(proc, 1, "current_tasks is a file at upstream main", "harness will not replace it")
    assert work.upstream_file("current_tasks") == "a file, not the lock directory\n"


def test_tasks_add_refuses_a_missing_dependency_and_a_cycle(work: WorkRepo) -> None:
    clone = work.first_clone
    proc = run_harness("tasks", "add", "b", "--title", "B", "--depends-on", "nosuch", cwd=clone)
    assert_one_line_error(proc, 2, "--depends-on nosuch", "tasks/nosuch.yaml", "add that task first")
    proc = run_harness("tasks", "add", "a", "--title", "A", "--depends-on", "a", cwd=clone)
    assert_one_line_error(proc, 2, "dependency cycle a -> a")
    assert work.upstream_file("tasks/b.yaml") is None and work.upstream_file("tasks/a.yaml") is None


def test_a_cycle_that_arrived_by_commit_is_named_everywhere_and_an_idle_loop_exits(work: WorkRepo) -> None:
    push_file(work, "tasks/a.yaml", "title: A\ndepends_on: [b]\n")
    push_file(work, "tasks/b.yaml", "title: B\ndepends_on: [a]\n")
    push_file(work, "tasks/c.yaml", "title: C\ndepends_on: [gone]\n")
    push_file(work, "tasks/d.yaml", "title: D\ndepends_on: [c]\n")
    clone = work.first_clone
    proc = run_harness("claim", "a", "--agent", "a1", cwd=clone)
    assert_one_line_error(proc, 4, "can never be claimed", "dependency cycle a -> b -> a")
    proc = run_harness("claim", "c", "--agent", "a1", cwd=clone)
    assert_one_line_error(proc, 4, "depends on gone, which has no task spec")
    rows = {row["id"]: row for row in json.loads(run_harness("tasks", "list", "--json", cwd=clone).stdout)}
    assert "dependency cycle" in rows["b"]["detail"] and "waits for c" in rows["d"]["detail"]
    status = run_harness("status", cwd=clone).stdout
    errors = [line for line in status.splitlines() if line.startswith("ERROR tasks/")]
    assert [line.split(":")[0] for line in errors] == [f"ERROR tasks/{t}.yaml" for t in "abcd"], status
    ws = work.workspace("loop")
    write_task(ws, "doable", "x.txt", "x")
    lines: list[str] = []
    summary = run(ws, lines=lines, exit_when_idle=True)  # exits: only never-claimable tasks remain
    assert summary.outcomes == {"done": 1} and summary.stopped_by == "no open task left"
    assert any("dependency cycle a -> b -> a" in line for line in lines if line.startswith("ERROR"))


def lock_text(task: str, **fields: object) -> str:
    data: dict[str, object] = {
        "task": task,
        "agent": "ghost",
        "nonce": new_nonce(),
        "claimed_at": "2024-01-01T00:00:00Z",
    }
    data.update(fields)
    return yaml.safe_dump(data)


def test_a_lock_stamped_in_the_future_is_stale_with_a_warning_not_held_forever(work: WorkRepo) -> None:
    push_file(work, "current_tasks/f1.lock", lock_text("f1", claimed_at="9999-12-31T00:00:00Z"))
    status = run_harness("status", cwd=work.first_clone).stdout
    assert "STALE (claimed_at" in status and "clock-skew allowance" in status
    proc = run_harness("claim", "f1", "--agent", "a1", cwd=work.first_clone)
    assert proc.returncode == 0 and "reclaimed f1 from ghost" in proc.stdout, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith("WARNING current_tasks/f1.lock: claimed_at") and "treating the lock as stale" in line


def test_a_future_stamp_within_the_skew_allowance_still_counts(work: WorkRepo) -> None:
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))  # allowance: 120 s
    push_file(work, "current_tasks/f2.lock", lock_text("f2", claimed_at=soon))
    proc = run_harness("claim", "f2", "--agent", "a1", cwd=work.first_clone)
    assert_one_line_error(proc, 3, "held by ghost")


def test_leases_out_of_bounds_in_a_lock_file_are_rejected_naming_file_and_field(work: WorkRepo) -> None:
    for task, lease in (("n1", -5), ("h1", 10**26)):
        push_file(work, f"current_tasks/{task}.lock", lock_text(task, lease_seconds=lease))
        proc = run_harness("claim", task, "--agent", "a1", cwd=work.first_clone)
        assert_one_line_error(proc, 1, f"current_tasks/{task}.lock", "lease_seconds", "from 10 to 604800")


def test_a_claim_with_a_sane_lease_outlives_a_huge_stamped_lease_never(work: WorkRepo) -> None:
    """Within bounds, the lock's own lease decides: 7 days is the longest a lock can hold."""
    ws = work.workspace("a1")
    claim(ws, "t1", lease_seconds=7 * 86400)
    later = time.time() + 7 * 86400 + 300 + 120 + 5
    taken = claim(work.workspace("b1"), "t1", clock=lambda: later)
    assert taken.reclaimed_from == "a1"
