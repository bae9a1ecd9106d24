"""What the upstream tip says: every entry of ``current_tasks/`` and every task spec."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import overload

from harness.errors import ConfigError
from harness.git.repo import GitRepo
from harness.locks.lockfile import LOCK_DIR, LockEntry, read_entry, task_of_entry
from harness.tasks.specs import SPEC_SUFFIX, TASK_DIR, Board, TaskSpec, parse_spec, spec_path

README = "README.md"
_SYMLINK = "120000"


class TipPaths(Sequence[str]):
    """Every file path at one commit, listed (one ``ls-tree -r``) only when first needed:
    the scheduler needs it only to match glob patterns in ``files``."""

    def __init__(self, repo: GitRepo, tip: str) -> None:
        self._repo, self._tip = repo, tip
        self._paths: tuple[str, ...] | None = None

    def _listed(self) -> tuple[str, ...]:
        if self._paths is None:
            self._paths = tuple(self._repo.out("ls-tree", "-r", "--name-only", self._tip).splitlines())
        return self._paths

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._listed()[index]

    def __len__(self) -> int:
        return len(self._listed())

    def __iter__(self) -> Iterator[str]:
        return iter(self._listed())


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    tip: str | None
    entries: dict[str, LockEntry]  # by task; foreign and malformed files included
    specs: dict[str, TaskSpec]
    spec_problems: dict[str, str] = field(default_factory=dict)  # task -> error line
    lock_dir_problem: str = ""  # current_tasks is not a directory at the tip: nothing can be claimed
    existing_paths: Sequence[str] = ()

    def board(self) -> Board:
        held = {task: e.lock for task, e in self.entries.items() if e.lock is not None}
        foreign = frozenset(task for task, e in self.entries.items() if e.lock is None)
        return Board(self.specs, held, foreign, self.existing_paths)

    def problems(self, board: Board | None = None) -> list[str]:
        """One line per task spec that is malformed or can never be claimed (a dependency
        cycle, a missing dependency), naming the file: for status, tasks list and the loop."""
        stuck = (board or self.board()).dependency_problems
        return [
            *([self.lock_dir_problem] if self.lock_dir_problem else []),
            *(self.spec_problems[task] for task in sorted(self.spec_problems)),
            *(f"{spec_path(task)}: can never be claimed: {why}" for task, why in sorted(stuck.items())),
        ]


def _odd_entry(name: str, kind: str) -> LockEntry:
    """A directory (or symlink, or submodule) in current_tasks/: someone's content, not a lock."""
    what = {"tree": "a directory", "commit": "a submodule"}.get(kind, "a symbolic link")
    path = f"{LOCK_DIR}/{name}"
    problem = f"{path} is {what}, not a lock file; harness will not replace it: move it out of {LOCK_DIR}/ in a commit"
    return LockEntry(path=path, task=task_of_entry(name), lock=None, problem=problem, first_line=what)


def read_snapshot(repo: GitRepo, tip: str | None) -> Snapshot:
    if tip is None:
        return Snapshot(tip=None, entries={}, specs={})
    entries, lock_dir_problem = _lock_entries(repo, tip)
    specs_by_name = {
        n: e.sha for n, e in repo.ls_tree(f"{tip}:{TASK_DIR}").items() if e.kind == "blob" and n.endswith(SPEC_SUFFIX)
    }
    specs: dict[str, TaskSpec] = {}
    problems: dict[str, str] = {}
    for name, sha in specs_by_name.items():
        try:
            spec = repo.parsed_blob(sha, f"{TASK_DIR}/{name}", parse_spec)
            specs[spec.id] = spec
        except ConfigError as exc:
            problems[name.removesuffix(SPEC_SUFFIX)] = str(exc)
    return Snapshot(
        tip=tip,
        entries=entries,
        specs=specs,
        spec_problems=problems,
        existing_paths=TipPaths(repo, tip),
        lock_dir_problem=lock_dir_problem,
    )


def _lock_entries(repo: GitRepo, tip: str) -> tuple[dict[str, LockEntry], str]:
    """Every entry of current_tasks/ by task, and why there is no such directory to claim in."""
    lock_dir = repo.ls_tree(tip).get(LOCK_DIR)
    if lock_dir is not None and lock_dir.kind != "tree":
        return {}, (
            f"{LOCK_DIR} is a file at upstream main, not the lock directory; harness will not replace it: "
            "move it elsewhere in a commit"
        )
    listing = repo.ls_tree(f"{tip}:{LOCK_DIR}")
    locks = {n: e.sha for n, e in listing.items() if e.kind == "blob" and e.mode != _SYMLINK and n != README}
    entries: dict[str, LockEntry] = {}
    for name in sorted(locks):
        entry = repo.parsed_blob(locks[name], name, read_entry)
        # Two files for one task (say foo.lock and foo.txt): the harness lock wins the slot,
        # the other stays visible under its own file name.
        entries[entry.task if entry.task not in entries else name] = entry
    for name, item in sorted(listing.items()):  # directories, symlinks, submodules: held, never replaced
        if name not in locks and name != README:
            entry = _odd_entry(name, item.kind)
            entries[entry.task if entry.task not in entries else name] = entry
    return entries, ""
