"""release: the lock's deletion rides with the work, and the next claim can ride with both."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.locks import records
from harness.locks.claim import ClaimRequest, claim
from harness.locks.lockfile import new_nonce
from harness.locks.release import NextClaim, ReleaseOutcome, release
from harness.locks.snapshot import Snapshot
from harness.workspace import open_workspace
from tests.conftest import WorkRepo, commit_file, git


def pick(task: str) -> NextClaim:
    def choose(snap: Snapshot) -> ClaimRequest | None:
        return ClaimRequest(task=task, role="core-dev", nonce=new_nonce())

    return choose


def test_the_next_claim_lands_in_the_same_push_as_the_release(work: WorkRepo) -> None:
    ws = work.workspace("a1")
    claim(ws, "t1")
    git(ws.root, "pull", "--quiet", "--rebase")
    commit_file(ws.root, "src/t1.txt", "one\n", "t1: the work")
    result = release(ws, "t1", ReleaseOutcome.DONE, claim_next=pick("t2"))
    assert result.work_commits == 1 and result.next_claim is not None and result.next_claim.task == "t2"
    subjects = work.upstream_git("log", "--format=%s", "-3", "main").splitlines()
    assert subjects == ["claim: t2", "release: t1 (done)", "t1: the work"]
    assert work.upstream_git("rev-parse", "main").strip() == result.commit == result.next_claim.commit
    assert work.upstream_file("src/t1.txt") == "one\n" and work.upstream_file("current_tasks/t1.lock") is None
    assert f"nonce: {result.next_claim.lock.nonce}" in (work.upstream_file("current_tasks/t2.lock") or "")
    held = records.read_record(ws.state_dir, "t2")
    assert (
        held is not None and held.state == records.ClaimState.HELD and records.read_record(ws.state_dir, "t1") is None
    )
    release(ws, "t2", ReleaseOutcome.RELEASED)  # and it is ours to release like any claim
    assert work.upstream_file("current_tasks/t2.lock") is None


def test_a_next_claim_that_cannot_be_made_leaves_the_release_alone(work: WorkRepo) -> None:
    claim(work.workspace("b1"), "t3")
    ws = work.workspace("a1")
    claim(ws, "t1")
    git(ws.root, "pull", "--quiet", "--rebase")
    commit_file(ws.root, "src/t1.txt", "one\n", "t1: the work")
    result = release(ws, "t1", ReleaseOutcome.DONE, claim_next=pick("t3"))
    assert result.next_claim is None and result.work_commits == 1
    assert work.upstream_git("log", "--format=%s", "-1", "main").strip() == "release: t1 (done)"
    assert "agent: b1" in (work.upstream_file("current_tasks/t3.lock") or "")
    assert records.read_record(ws.state_dir, "t3") is None  # no pending record left behind
    assert git(work.upstream, "log", "--format=%s", "main").count("claim: t3") == 1


def test_a_borrowing_clone_rebases_onto_a_moved_main_and_keeps_everything(work: WorkRepo) -> None:
    """A clone made like `harness up` makes them rebases on the tip it reads before queueing
    for the push slot; what others pushed meanwhile and our work both land."""
    ws = open_workspace(work.clone("a1", shared=True), "a1")
    claim(ws, "t1")
    git(ws.root, "pull", "--quiet", "--rebase")
    commit_file(ws.root, "src/t1.txt", "one\n", "t1: the work")
    other = work.clone("other")
    commit_file(other, "src/other.txt", "theirs\n", "someone else's work")
    git(other, "push", "--quiet", "origin", "HEAD:main")
    result = release(ws, "t1", ReleaseOutcome.DONE)
    assert result.work_commits == 1
    subjects = work.upstream_git("log", "--format=%s", "-3", "main").splitlines()
    assert subjects == ["release: t1 (done)", "t1: the work", "someone else's work"]
    assert work.upstream_file("src/t1.txt") == "one\n" and work.upstream_file("src/other.txt") == "theirs\n"
    assert work.upstream_file("current_tasks/t1.lock") is None


def test_a_borrowing_clone_whose_work_conflicts_changes_nothing(work: WorkRepo) -> None:
    ws = open_workspace(work.clone("a1", shared=True), "a1")
    claim(ws, "t1")
    git(ws.root, "pull", "--quiet", "--rebase")
    mine = commit_file(ws.root, "README.md", "mine\n", "t1: my README")
    other = work.clone("other")
    commit_file(other, "README.md", "theirs\n", "their README")
    git(other, "push", "--quiet", "origin", "HEAD:main")
    with pytest.raises(HarnessError, match=r"conflict with upstream main in README\.md"):
        release(ws, "t1", ReleaseOutcome.DONE)
    assert git(ws.root, "rev-parse", "HEAD").strip() == mine  # our commit, untouched
    assert not (ws.repo.git_dir / "rebase-merge").exists()
    assert "agent: a1" in (work.upstream_file("current_tasks/t1.lock") or "")  # still ours
