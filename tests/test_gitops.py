"""gitops: the one choke point to git, and the in-process objects it writes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.errors import GitError, HarnessError, UpstreamUnreachable
from harness.git.objects import BatchReader, Blob, Commit, Tree, TreeEntry
from harness.git.repo import GitRepo, PushStatus, clean_env, identity_env, init_bare
from tests.conftest import WorkRepo, commit_file, git


def test_in_process_objects_are_byte_identical_to_gits(tmp_path: Path) -> None:
    git(tmp_path, "init", "--quiet")
    repo = GitRepo(tmp_path)
    # Names chosen to exercise git's ordering rule (a tree sorts as "name/").
    files = {"a.b": b"1\n", "a/x": b"2\n", "a-b": b"3\n", "ab": b"4\n", "z/y/deep.txt": b"5\n", "caf\u00e9": b"6\n"}
    tree = repo.tree_with_changes(None, files)
    for path, content in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(content)
    git(tmp_path, "add", "-A")
    assert git(tmp_path, "write-tree").strip() == tree
    env = {**identity_env("agent-1"), "GIT_AUTHOR_DATE": "@1700000000 +0000", "GIT_COMMITTER_DATE": "@1700000000 +0000"}
    ours = repo.commit_tree(tree, [], "claim: x\n\nHarness-Agent: agent-1\n", env)
    theirs = (
        subprocess.run(
            ["git", "commit-tree", tree],
            cwd=tmp_path,
            input=b"claim: x\n\nHarness-Agent: agent-1\n",
            env=clean_env(env),
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )
    assert ours == theirs
    git(tmp_path, "fsck", "--strict", "--no-dangling")


def test_tree_edits_write_and_delete_nested_paths(work: WorkRepo) -> None:
    repo = GitRepo(work.first_clone)
    base = repo.rev_parse("HEAD")
    assert base is not None
    tree = repo.tree_with_changes(f"{base}^{{tree}}", {"current_tasks/README.md": None, "new/dir/f.txt": b"x\n"})
    listing = git(work.first_clone, "ls-tree", "-r", "--name-only", tree).split()
    assert "current_tasks/README.md" not in listing and "new/dir/f.txt" in listing and "harness.yaml" in listing
    assert repo.read_blobs(tree, ["new/dir/f.txt", "missing"]) == {"new/dir/f.txt": b"x\n", "missing": None}


def test_clean_env_drops_stray_git_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_DIR", "/elsewhere")
    monkeypatch.setenv("GIT_INDEX_FILE", "/elsewhere/index")
    env = clean_env()
    assert "GIT_DIR" not in env and "GIT_INDEX_FILE" not in env
    assert env["GIT_TERMINAL_PROMPT"] == "0" and env["LC_ALL"] == "C"
    assert env["GIT_CONFIG_NOSYSTEM"] == "1"  # the hermetic test config survives on purpose


def test_git_error_names_command_exit_code_and_stderr(tmp_path: Path) -> None:
    with pytest.raises(GitError) as caught:
        GitRepo(tmp_path).run("rev-parse", "--verify", "nope")
    message = str(caught.value)
    assert "`git rev-parse --verify nope` exited 128" in message and "fatal" in message


def test_push_outcomes_are_classified(work: WorkRepo, tmp_path: Path) -> None:
    a, b = GitRepo(work.clone("a")), GitRepo(work.clone("b"))
    for repo, name in ((a, "a.txt"), (b, "b.txt")):
        (repo.path / name).write_text(name)
        git(repo.path, "add", name)
        git(repo.path, "commit", "--quiet", "-m", name)
    assert a.push("HEAD", "refs/heads/main").status is PushStatus.OK
    assert b.push("HEAD", "refs/heads/main").status is PushStatus.REJECTED
    hook = work.upstream / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'ERROR test_x: broke it'\nexit 1\n")
    hook.chmod(0o755)
    git(b.path, "pull", "--quiet", "--rebase")
    refused = b.push("HEAD", "refs/heads/main")
    assert refused.status is PushStatus.REFUSED and refused.remote_lines == ("ERROR test_x: broke it",)
    b.run("remote", "set-url", "origin", str(tmp_path / "gone.git"))
    with pytest.raises(UpstreamUnreachable, match="upstream unreachable"):
        b.push("HEAD", "refs/heads/main")


def test_rev_parse_sees_refs_moved_by_another_process(work: WorkRepo) -> None:
    repo = GitRepo(work.first_clone)
    first = repo.rev_parse("HEAD")
    assert first is not None and repo.rev_parse("refs/heads/no-such-branch") is None
    git(work.first_clone, "commit", "--quiet", "--allow-empty", "-m", "second")
    git(work.first_clone, "pack-refs", "--all")  # also after the refs moved into packed-refs
    second = git(work.first_clone, "rev-parse", "HEAD").strip()
    assert second != first and repo.rev_parse("HEAD") == second
    assert repo.rev_parse(f"{second}^") == first


def test_parsed_blob_parses_each_blob_once(work: WorkRepo) -> None:
    repo = GitRepo(work.first_clone)
    calls: list[str] = []

    def parse(label: str, content: bytes) -> str:
        calls.append(label)
        return content.decode().upper()

    one, two = repo.hash_blob(b"one\n"), repo.hash_blob(b"two\n")
    assert [repo.parsed_blob(sha, "f", parse) for sha in (one, two, one, two)] == ["ONE\n", "TWO\n"] * 2
    assert calls == ["f", "f"]  # the second round came from memory
    assert repo.parsed_blob(one, "g", parse) == "ONE\n" and calls == ["f", "f", "g"]  # the label is part of the key


def test_commits_between_agrees_with_rev_list(work: WorkRepo) -> None:
    clone = work.first_clone
    repo = GitRepo(clone)
    base = git(clone, "rev-parse", "HEAD").strip()
    for i in range(3):
        commit_file(clone, f"f{i}.txt", f"{i}\n", f"f{i}")
    git(clone, "checkout", "--quiet", "-b", "side", base)
    commit_file(clone, "side.txt", "s\n", "side")
    git(clone, "checkout", "--quiet", "main")
    git(clone, "merge", "--quiet", "--no-edit", "side")  # a merge: the walk must hand over to rev-list
    pairs = [(base, "main"), (base, "main~1"), ("main", "main"), ("main", base), ("side", "main~1")]
    pairs += [("main~1", base), ("main~1", "main~2")]  # head behind base on a straight line: 0
    for ref_base, ref_head in pairs:
        expected = int(git(clone, "rev-list", "--count", f"{ref_base}..{ref_head}"))
        assert repo.commits_between(ref_base, ref_head) == expected, (ref_base, ref_head)


def test_the_reader_answers_with_typed_commits_trees_and_blobs(work: WorkRepo) -> None:
    clone = work.first_clone
    first = git(clone, "rev-parse", "HEAD").strip()
    commit_file(clone, "src/a.txt", "a\n", "second")
    git(clone, "tag", "-a", "-m", "v1", "v1")
    reader = BatchReader(clone, clean_env())
    head = reader.commit("v1")  # an annotated tag peels to its commit
    assert head == Commit(
        git(clone, "rev-parse", "HEAD").strip(), git(clone, "rev-parse", "HEAD^{tree}").strip(), (first,)
    )
    root = reader.tree("HEAD")
    assert isinstance(root, Tree) and root.sha == head.tree
    assert root.entries["src"] == TreeEntry("040000", "tree", git(clone, "rev-parse", "HEAD:src").strip())
    assert root.entries["harness.yaml"].kind == "blob" and root.entries["harness.yaml"].mode == "100644"
    src = reader.tree("HEAD:src")
    assert src is not None and src.sha == root.entries["src"].sha and list(src.entries) == ["a.txt"]
    blob = reader.blob("HEAD:src/a.txt")
    assert blob == Blob(git(clone, "rev-parse", "HEAD:src/a.txt").strip(), b"a\n")
    assert reader.object("v1") is None  # a tag object itself: callers peel
    assert reader.blob("HEAD") is None and reader.tree("HEAD:src/a.txt") is None and reader.commit("HEAD:src") is None
    assert reader.object("HEAD:nothing-here") is None and reader.object("no-such-ref") is None
    reader.close()
    assert reader.blob(blob.sha) == blob  # a closed reader starts again on demand
    reader.close()


def test_blobs_by_id_reads_many_at_once_and_leaves_out_missing_ones(work: WorkRepo) -> None:
    repo = GitRepo(work.first_clone)
    ids = [repo.hash_blob(f"lock {i}\n".encode()) for i in range(3)]
    missing = "1" * 40
    assert repo.blobs_by_id([ids[0], missing, *ids, ids[2]]) == {
        sha: f"lock {i}\n".encode() for i, sha in enumerate(ids)
    }
    assert repo.blobs_by_id([]) == {}


def test_init_bare_makes_the_folders_and_names_the_branch(tmp_path: Path) -> None:
    upstream = tmp_path / "a" / "b" / "up.git"
    init_bare(upstream, initial_branch="trunk")
    assert git(upstream, "rev-parse", "--is-bare-repository").strip() == "true"
    assert git(upstream, "symbolic-ref", "HEAD").strip() == "refs/heads/trunk"
    (tmp_path / "file").write_text("not a folder\n")
    with pytest.raises(HarnessError, match=r"file/up\.git: cannot create its folder"):
        init_bare(tmp_path / "file" / "up.git")
    (tmp_path / "taken.git").write_text("a file where the repository should go\n")
    with pytest.raises(GitError, match="git init"):
        init_bare(tmp_path / "taken.git")
