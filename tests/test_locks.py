"""The lock protocol against real git: claim, release, fencing, reclaim, heartbeats."""

from __future__ import annotations

import shutil
import time

import pytest
import yaml

from harness.errors import ConfigError, Fenced, LockHeld, NotClaimable, UpstreamUnreachable
from harness.locks import records
from harness.locks.claim import claim, heartbeat
from harness.locks.heartbeats import fetch_heartbeats
from harness.locks.release import ReleaseOutcome, hand_back, release
from harness.locks.status import status
from harness.tasks.ops import add_task
from harness.tasks.specs import TaskSpec
from tests.conftest import WorkRepo, commit_file, git

LEASE = 1800
STALE_AFTER = 1800 + 300 + 120  # lease + grace + skew (defaults written by harness init)


def test_claim_writes_a_lock_with_nonce_and_trailers(work: WorkRepo) -> None:
    ws = work.workspace("a")
    result = claim(ws, "parser", role="core-dev", note="fix it")
    lock = yaml.safe_load(work.upstream_file("current_tasks/parser.lock") or "")
    assert lock["agent"] == "a" and lock["nonce"] == result.lock.nonce and lock["generation"] == 1
    message = work.upstream_git("log", "-1", "--format=%B", "main")
    assert message.startswith("claim: parser")
    assert f"Harness-Nonce: {result.lock.nonce}" in message and "Harness-Agent: a" in message


def test_second_claimer_learns_it_lost(work: WorkRepo) -> None:
    claim(work.workspace("a"), "parser")
    with pytest.raises(LockHeld, match="held by a"):
        claim(work.workspace("b"), "parser")
    assert records.read_record(work.workspace("b").state_dir, "parser") is None


def test_a_claim_decided_on_a_stale_tip_still_cannot_double_claim(work: WorkRepo) -> None:
    # The loop hands claim() the tip it fetched a moment ago; another agent may have taken
    # the task since. The first push (decided on the stale tip) must lose, and the retry
    # must see the other lock.
    ws_b = work.workspace("b")
    stale = ws_b.repo.rev_parse("refs/remotes/origin/main")
    claim(work.workspace("a"), "parser")
    with pytest.raises(LockHeld, match="held by a"):
        claim(ws_b, "parser", tip=stale)
    assert git(work.upstream, "log", "--format=%s", "main").count("claim: parser") == 1
    assert claim(ws_b, "lexer", tip=stale).commit == work.upstream_git("rev-parse", "main").strip()


def test_claiming_again_is_idempotent_for_the_holder(work: WorkRepo) -> None:
    ws = work.workspace("a")
    first = claim(ws, "parser")
    again = claim(ws, "parser")
    assert again.already_held and again.lock.nonce == first.lock.nonce


def test_release_done_lands_work_and_marks_spec_done(work: WorkRepo) -> None:
    ws = work.workspace("a")
    add_task(ws, TaskSpec(id="parser", title="Parse things"))
    claim(ws, "parser")
    git(ws.root, "pull", "--quiet", "--rebase")
    commit_file(ws.root, "src/parser.py", "print('parsed')\n", "parser: parse things")
    result = release(ws, "parser", ReleaseOutcome.DONE)
    assert result.work_commits == 1
    assert work.upstream_file("current_tasks/parser.lock") is None
    assert work.upstream_file("src/parser.py") == "print('parsed')\n"
    assert yaml.safe_load(work.upstream_file("tasks/parser.yaml") or "")["status"] == "done"
    subjects = work.upstream_git("log", "--format=%s", "-2", "main").splitlines()
    assert subjects == ["release: parser (done)", "parser: parse things"]
    with pytest.raises(NotClaimable, match="done"):
        claim(work.workspace("b"), "parser")


def test_release_by_non_holder_is_refused_as_held_and_deletes_nothing(work: WorkRepo) -> None:
    claim(work.workspace("a"), "parser")
    with pytest.raises(LockHeld) as caught:  # 3 held by another agent; 5 (fenced) is for a lost lock
        release(work.workspace("b"), "parser")
    assert caught.value.exit_code == 3
    assert "agent: a" in (work.upstream_file("current_tasks/parser.lock") or "")


def test_stale_lock_is_reclaimed_only_past_lease_grace_and_skew(work: WorkRepo) -> None:
    t0 = time.time()
    first = claim(work.workspace("a"), "parser", clock=lambda: t0)
    with pytest.raises(LockHeld):
        claim(work.workspace("b"), "parser", clock=lambda: t0 + STALE_AFTER - 5)
    taken = claim(work.workspace("b"), "parser", clock=lambda: t0 + STALE_AFTER + 5)
    assert taken.reclaimed_from == "a" and taken.lock.generation == 2
    message = work.upstream_git("log", "-1", "--format=%B", "main")
    assert message.startswith("reclaim: parser") and f"Harness-Reclaims: {first.lock.nonce}" in message


def test_fresh_heartbeat_prevents_reclaim(work: WorkRepo) -> None:
    t0 = time.time()
    holder = work.workspace("a")
    claim(holder, "parser", clock=lambda: t0)
    heartbeat(holder, clock=lambda: t0 + 2000)
    assert fetch_heartbeats(work.workspace("b").repo)["a"] == int(t0 + 2000)
    with pytest.raises(LockHeld, match="held by a"):
        claim(work.workspace("b"), "parser", clock=lambda: t0 + STALE_AFTER + 5)
    claim(work.workspace("b"), "parser", clock=lambda: t0 + 2000 + STALE_AFTER + 5)


def test_release_after_reclaim_is_fenced_and_work_kept_on_orphan_ref(work: WorkRepo) -> None:
    t0 = time.time()
    old = work.workspace("a")
    claim(old, "parser", clock=lambda: t0)
    git(old.root, "pull", "--quiet", "--rebase")
    work_sha = commit_file(old.root, "src/parser.py", "slow work\n", "parser: late work")
    new = claim(work.workspace("b"), "parser", clock=lambda: t0 + STALE_AFTER + 5)
    with pytest.raises(Fenced, match="refs/harness/orphans/a/parser-") as caught:
        release(old, "parser", ReleaseOutcome.DONE)
    lock = yaml.safe_load(work.upstream_file("current_tasks/parser.lock") or "")
    assert lock["nonce"] == new.lock.nonce
    orphan = str(caught.value).rsplit(" ", 1)[-1]
    assert work.upstream_git("rev-parse", orphan).strip() == work_sha
    assert work.upstream_file("src/parser.py") is None


def test_abandon_hands_lock_back_and_parks_work(work: WorkRepo) -> None:
    ws = work.workspace("a")
    claim(ws, "parser")
    git(ws.root, "pull", "--quiet", "--rebase")
    sha = commit_file(ws.root, "half.py", "half done\n", "wip")
    result = release(ws, "parser", ReleaseOutcome.ABANDONED)
    assert result.parked_ref is not None and result.parked_ref.startswith("refs/harness/parked/a/parser-")
    assert work.upstream_git("rev-parse", result.parked_ref).strip() == sha
    assert work.upstream_file("half.py") is None and work.upstream_file("current_tasks/parser.lock") is None
    claim(work.workspace("b"), "parser")


def test_hand_back_of_a_reclaimed_task_keeps_the_work_and_says_why_nothing_was_released(work: WorkRepo) -> None:
    t0 = time.time()
    old = work.workspace("a")
    claim(old, "parser", clock=lambda: t0)
    git(old.root, "pull", "--quiet", "--rebase")
    work_sha = commit_file(old.root, "src/parser.py", "slow work\n", "parser: late work")
    new = claim(work.workspace("b"), "parser", clock=lambda: t0 + STALE_AFTER + 5)
    back = hand_back(old, "parser", "the session failed")  # no exception: there is nothing to hand back
    assert back.commit is None and "reclaimed by b" in back.fenced
    orphan = back.fenced.rsplit(" ", 1)[-1]
    assert orphan.startswith("refs/harness/orphans/a/parser-")
    assert work.upstream_git("rev-parse", orphan).strip() == work_sha
    assert records.read_record(old.state_dir, "parser") is None  # the next iteration does not retry it
    lock = yaml.safe_load(work.upstream_file("current_tasks/parser.lock") or "")
    assert lock["nonce"] == new.lock.nonce


def test_upstream_unreachable_is_one_clear_error_and_keeps_local_commit(work: WorkRepo) -> None:
    ws = work.workspace("a")
    claim(ws, "parser")
    git(ws.root, "pull", "--quiet", "--rebase")
    sha = commit_file(ws.root, "x.py", "x\n", "work")
    shutil.move(str(work.upstream), str(work.upstream) + ".away")
    started = time.monotonic()
    with pytest.raises(UpstreamUnreachable, match="upstream unreachable") as caught:
        release(ws, "parser", ReleaseOutcome.DONE)
    assert time.monotonic() - started >= 0.25 + 0.5 + 1.0  # it backed off between attempts
    assert caught.value.exit_code == 1 and "\n" not in str(caught.value)
    assert git(ws.root, "rev-parse", "HEAD").strip() == sha


def test_foreign_lock_is_held_shown_and_never_deleted(work: WorkRepo) -> None:
    clone = work.first_clone
    lock = commit_file(clone, "current_tasks/lexer.txt", "Claude is on the lexer, back soon\n", "lock lexer")
    # The gate refuses new foreign files: this one is from before the gate (a converted repo).
    git(clone, "push", "--quiet", "origin", "HEAD:refs/harness/import")
    work.upstream_git("update-ref", "refs/heads/main", lock)
    with pytest.raises(LockHeld, match=r"lexer\.txt"):
        claim(work.workspace("a"), "lexer")
    rows = status(work.workspace("a")).rows
    assert [(r.task, r.kind, r.note) for r in rows] == [("lexer", "foreign", "Claude is on the lexer, back soon")]
    assert work.upstream_file("current_tasks/lexer.txt") is not None


def test_malformed_lock_file_is_a_clear_error(work: WorkRepo) -> None:
    clone = work.first_clone
    commit_file(clone, "current_tasks/lexer.lock", "agent: [unclosed\n", "bad lock")
    git(clone, "push", "--quiet", "origin", "HEAD:main")
    with pytest.raises(ConfigError, match=r"current_tasks/lexer.lock: not a valid lock file"):
        claim(work.workspace("a"), "lexer")
    assert [r.kind for r in status(work.workspace("a")).rows] == ["malformed"]


def test_status_reports_holder_age_heartbeat_and_staleness(work: WorkRepo) -> None:
    t0 = time.time()
    ws = work.workspace("a")
    claim(ws, "parser", role="core-dev", clock=lambda: t0)
    heartbeat(ws, clock=lambda: t0 + 10)
    (row,) = status(work.workspace("b"), clock=lambda: t0 + 100).rows
    assert (row.agent, row.role, row.stale) == ("a", "core-dev", False)
    assert row.age_seconds == pytest.approx(100, abs=1.5) and row.heartbeat_age_seconds == pytest.approx(90, abs=1.5)
    (row,) = status(work.workspace("b"), clock=lambda: t0 + 10 + STALE_AFTER + 1).rows
    assert row.stale
