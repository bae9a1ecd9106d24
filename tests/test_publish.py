"""publish: optimistic commits on the upstream tip, and what origin/main says afterwards."""

from __future__ import annotations

from harness.git.publish import REMOTE_MAIN, Change, publish
from harness.git.repo import GitRepo
from tests.conftest import WorkRepo, git


def test_origin_main_is_the_published_commit_without_a_fetch(work: WorkRepo) -> None:
    repo = GitRepo(work.first_clone)
    published = publish(repo, "agent-1", lambda tip: Change({"notes/a.txt": b"a\n"}, "add a\n"))
    assert published is not None
    assert repo.rev_parse(REMOTE_MAIN) == published.commit == work.upstream_git("rev-parse", "main").strip()


def test_origin_main_follows_a_branch_with_another_name(work: WorkRepo) -> None:
    # A work repo whose shared branch is `trunk`: git's push moves origin/trunk, and
    # harness must still move origin/main, which is where it reads the tip from.
    git(work.first_clone, "push", "--quiet", "origin", "main:trunk")
    repo = GitRepo(work.first_clone)
    published = publish(repo, "agent-1", lambda tip: Change({"notes/b.txt": b"b\n"}, "add b\n"), branch="trunk")
    assert published is not None
    assert repo.rev_parse(REMOTE_MAIN) == published.commit == work.upstream_git("rev-parse", "trunk").strip()
    assert work.upstream_git("rev-parse", "main").strip() == published.parent
