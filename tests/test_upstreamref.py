"""Clones that borrow a local upstream's objects read its tip without a fetch."""

from __future__ import annotations

import os

import pytest

from harness.errors import LockHeld
from harness.git.publish import REMOTE_MAIN, fetch_main
from harness.git.repo import GitRepo
from harness.git.upstream import borrowed_upstream, direct_tip, local_upstream_path, read_branch
from harness.locks.claim import claim
from harness.locks.snapshot import read_snapshot
from harness.workspace import open_workspace
from tests.conftest import WorkRepo, commit_file, git


def test_the_upstream_is_local_when_origin_names_a_bare_repository_here(work: WorkRepo) -> None:
    clone = work.clone("where")
    relative = os.path.relpath(work.upstream, clone)
    origins = {
        str(work.upstream): work.upstream,
        work.upstream.as_uri(): work.upstream,
        relative: clone / relative,  # git takes a relative URL from the clone
        "https://example.com/upstream.git": None,
        "git@example.com:upstream.git": None,
        str(work.first_clone): None,  # a working clone, not a bare upstream
    }
    for url, expected in origins.items():
        git(clone, "remote", "set-url", "origin", url)
        assert local_upstream_path(GitRepo(clone)) == expected, url
    git(clone, "remote", "remove", "origin")
    assert local_upstream_path(GitRepo(clone)) is None


def upstream_tip(work: WorkRepo) -> str:
    return work.upstream_git("rev-parse", "main").strip()


def test_a_borrowing_clone_sees_another_agents_push_without_fetching(work: WorkRepo) -> None:
    mine = open_workspace(work.clone("mine", shared=True), "mine")
    other = open_workspace(work.clone("other"), "other")
    assert borrowed_upstream(mine.repo) == work.upstream
    claim(other, "t1")
    fetches_before = _fetch_head_mtime(mine.repo)
    tip = fetch_main(mine.repo)
    assert tip == upstream_tip(work)
    assert mine.repo.rev_parse(REMOTE_MAIN) == tip
    assert _fetch_head_mtime(mine.repo) == fetches_before  # no `git fetch` ran
    # The other agent's objects are readable here at once: its lock is in the snapshot.
    lock = read_snapshot(mine.repo, tip).entries["t1"].lock
    assert lock is not None and lock.agent == "other"


def test_claims_from_borrowing_clones_still_exclude_each_other(work: WorkRepo) -> None:
    first = open_workspace(work.clone("a", shared=True), "a")
    second = open_workspace(work.clone("b", shared=True), "b")
    claim(first, "t1")
    with pytest.raises(LockHeld, match="held by a"):
        claim(second, "t1")
    work.upstream_git("fsck", "--strict")


def test_packed_and_loose_refs_are_read_in_gits_order(work: WorkRepo) -> None:
    clone = work.clone("c", shared=True)
    work.upstream_git("pack-refs", "--all")
    assert not (work.upstream / "refs" / "heads" / "main").exists()
    assert read_branch(work.upstream, "main") == upstream_tip(work)
    # A push after packing writes a loose ref, which overrides the packed one.
    commit_file(clone, "notes.txt", "new\n", "a change")
    git(clone, "push", "-q", "origin", "HEAD:main")
    assert (work.upstream / "refs" / "heads" / "main").exists()
    assert read_branch(work.upstream, "main") == upstream_tip(work)


def test_anything_unexpected_means_fetch(work: WorkRepo) -> None:
    plain = GitRepo(work.clone("plain"))
    assert borrowed_upstream(plain) is None and direct_tip(plain, "main") is None
    assert read_branch(work.upstream, "no-such-branch") is None
    (work.upstream / "refs" / "heads" / "odd").write_text("ref: refs/heads/main\n")
    assert read_branch(work.upstream, "odd") is None  # symbolic: left to git
    shared = GitRepo(work.clone("shared", shared=True))
    (shared.objects_dir / "info" / "alternates").write_text("/elsewhere/objects\n")
    assert direct_tip(shared, "main") is None


def _fetch_head_mtime(repo: GitRepo) -> float | None:
    path = repo.path / ".git" / "FETCH_HEAD"
    return path.stat().st_mtime_ns if path.exists() else None
