"""release: the lock's deletion rides with the work, and the next claim can ride with both."""

from __future__ import annotations

from harness import records
from harness.lockfile import new_nonce
from harness.locks import ClaimRequest, claim
from harness.release import NextClaim, Outcome, release
from harness.snapshot import Snapshot
from tests.conftest import WorkRepo, commit_file, git


def pick(task: str) -> NextClaim:
    def choose(snap: Snapshot) -> ClaimRequest | None:
        return ClaimRequest(task, role="core-dev", nonce=new_nonce())

    return choose


def test_the_next_claim_lands_in_the_same_push_as_the_release(work: WorkRepo) -> None:
    ws = work.workspace("a1")
    claim(ws, "t1")
    git(ws.root, "pull", "--quiet", "--rebase")
    commit_file(ws.root, "src/t1.txt", "one\n", "t1: the work")
    result = release(ws, "t1", Outcome.DONE, claim_next=pick("t2"))
    assert result.work_commits == 1 and result.next_claim is not None and result.next_claim.task == "t2"
    subjects = work.upstream_git("log", "--format=%s", "-3", "main").splitlines()
    assert subjects == ["claim: t2", "release: t1 (done)", "t1: the work"]
    assert work.upstream_git("rev-parse", "main").strip() == result.commit == result.next_claim.commit
    assert work.upstream_file("src/t1.txt") == "one\n" and work.upstream_file("current_tasks/t1.lock") is None
    assert f"nonce: {result.next_claim.lock.nonce}" in (work.upstream_file("current_tasks/t2.lock") or "")
    held = records.read_record(ws.state_dir, "t2")
    assert held is not None and held.state == records.HELD and records.read_record(ws.state_dir, "t1") is None
    release(ws, "t2", Outcome.RELEASED)  # and it is ours to release like any claim
    assert work.upstream_file("current_tasks/t2.lock") is None


def test_a_next_claim_that_cannot_be_made_leaves_the_release_alone(work: WorkRepo) -> None:
    claim(work.workspace("b1"), "t3")
    ws = work.workspace("a1")
    claim(ws, "t1")
    git(ws.root, "pull", "--quiet", "--rebase")
    commit_file(ws.root, "src/t1.txt", "one\n", "t1: the work")
    result = release(ws, "t1", Outcome.DONE, claim_next=pick("t3"))
    assert result.next_claim is None and result.work_commits == 1
    assert work.upstream_git("log", "--format=%s", "-1", "main").strip() == "release: t1 (done)"
    assert "agent: b1" in (work.upstream_file("current_tasks/t3.lock") or "")
    assert records.read_record(ws.state_dir, "t3") is None  # no pending record left behind
    assert git(work.upstream, "log", "--format=%s", "main").count("claim: t3") == 1
