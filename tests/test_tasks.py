"""The scheduler's choices on a small dependency graph with file overlaps."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError, NotClaimable
from harness.locks.claim import claim
from harness.locks.lockfile import Lock
from harness.tasks.ops import add_task, next_choice, snapshot_at_tip
from harness.tasks.specs import Board, TaskSpec, claimable, files_clash, parse_spec, unblock_counts, unclaimable_reason
from tests.conftest import WorkRepo, commit_file, git

EXISTING = ("src/x.c", "src/y.c", "README.md")


def spec(task: str, **kw: object) -> TaskSpec:
    return TaskSpec(id=task, title=task.upper(), **kw)  # type: ignore[arg-type]


def lock(task: str, files: tuple[str, ...] = (), agent: str = "other") -> Lock:
    return Lock(
        task=task,
        agent=agent,
        role="core-dev",
        host="h",
        nonce="n-" + task,
        generation=1,
        claimed_at=0.0,
        lease_seconds=1800,
        note="",
        files=files,
    )


GRAPH = {
    s.id: s
    for s in [
        spec("a", created_at="2026-01-01T00:00:03Z"),
        spec("b", depends_on=("a",)),
        spec("c", depends_on=("b",)),
        spec("e", depends_on=("a",)),
        spec("d", priority=5, created_at="2026-01-01T00:00:02Z"),
        spec("old", created_at="2026-01-01T00:00:00Z"),
        spec("young", created_at="2026-01-01T00:00:01Z"),
        spec("docs-only", role="docs"),
    ]
}


def test_unblock_counts_are_transitive() -> None:
    counts = unblock_counts(GRAPH)
    assert counts["a"] == 3 and counts["b"] == 1 and counts["c"] == 0 and counts["d"] == 0


def test_next_prefers_unblocking_then_priority_then_oldest() -> None:
    board = Board(GRAPH, {}, frozenset(), EXISTING)
    assert [s.id for s in claimable(board, "core-dev")] == ["a", "d", "old", "young"]
    assert [s.id for s in claimable(board, "docs")][-1] == "docs-only"


def test_dependencies_block_until_done() -> None:
    board = Board(GRAPH, {}, frozenset(), EXISTING)
    assert "waits for unfinished dependencies: a" in (unclaimable_reason(board, "b") or "")
    done = {**GRAPH, "a": GRAPH["a"].marked_done("x")}
    board = Board(done, {}, frozenset(), EXISTING)
    assert unclaimable_reason(board, "b") is None
    assert "is done" in (unclaimable_reason(board, "a") or "")
    assert [s.id for s in claimable(board, "core-dev")] == ["b", "d", "old", "young", "e"]


def test_held_and_foreign_tasks_are_not_offered() -> None:
    board = Board(GRAPH, {"a": lock("a")}, frozenset({"d"}), EXISTING)
    assert [s.id for s in claimable(board, "core-dev")] == ["old", "young"]


@pytest.mark.parametrize(
    ("mine", "theirs", "clash"),
    [
        (("src/x.c",), ("src/x.c",), {"src/x.c"}),  # same existing file
        (("src/*.c",), ("src/y.c",), {"src/y.c"}),  # glob over an existing file
        (("src/",), ("src/x.c",), {"src/x.c"}),  # a directory
        (("new/a.c",), ("new/b.c",), set()),  # two different new files: additive, no clash
        (("new/*.c",), ("new/b.c",), set()),  # a glob matching nothing yet only adds files
        (("new/a.c",), ("new/a.c",), {"new/a.c"}),  # both create the same new file
        (("src/x.c",), ("src/y.c",), set()),
    ],
)
def test_file_overlap(mine: tuple[str, ...], theirs: tuple[str, ...], clash: set[str]) -> None:
    assert set(files_clash(mine, theirs, EXISTING)) == clash


def test_overlap_with_a_held_lock_makes_a_task_unclaimable() -> None:
    specs = {"f": spec("f", files=("src/x.c",)), "g": spec("g", files=("src/*.c",)), "h": spec("h", files=("n/h.c",))}
    board = Board(specs, {"f": lock("f", ("src/x.c",))}, frozenset(), EXISTING)
    reason = unclaimable_reason(board, "g") or ""
    assert "src/x.c" in reason and "held by other" in reason
    assert [s.id for s in claimable(board)] == ["h"]


def test_spec_validation_names_file_and_field() -> None:
    with pytest.raises(ConfigError, match=r"tasks/a.yaml: colour: unknown key"):
        parse_spec("tasks/a.yaml", b"title: A\ncolour: red\n")
    with pytest.raises(ConfigError, match=r"tasks/a.yaml: id: is 'b'"):
        parse_spec("tasks/a.yaml", b"title: A\nid: b\n")
    with pytest.raises(ConfigError, match=r"depends_on"):
        parse_spec("tasks/a.yaml", b"title: A\ndepends_on: [../x]\n")
    with pytest.raises(ConfigError, match=r"title: missing"):
        parse_spec("tasks/a.yaml", b"body: no title\n")


def test_scheduler_and_claims_agree_on_a_real_repo(work: WorkRepo) -> None:
    ws = work.workspace("a")
    commit_file(work.first_clone, "src/x.c", "int x;\n", "add x")
    git(work.first_clone, "push", "--quiet", "origin", "HEAD:main")
    add_task(ws, spec("lexer", files=("src/x.c",)))
    add_task(ws, spec("parser", files=("src/x.c",), priority=9))
    add_task(ws, spec("codegen", depends_on=("lexer",)))
    assert (next_choice(snapshot_at_tip(ws), None) or spec("none")).id == "lexer"  # unblocks codegen
    claim(ws, "lexer")
    other = work.workspace("b")
    assert next_choice(snapshot_at_tip(other), None) is None  # parser overlaps, codegen waits
    with pytest.raises(NotClaimable, match=r"src/x\.c"):
        claim(other, "parser")
    claim(other, "fresh-task", files=("src/new.c",))
