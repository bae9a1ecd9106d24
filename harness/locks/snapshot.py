"""What the upstream tip says: every entry of ``current_tasks/`` and every task spec."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import overload

from harness.errors import ConfigError
from harness.git.repo import GitRepo
from harness.locks.lockfile import LOCK_DIR, LockEntry, read_entry
from harness.tasks.specs import SPEC_SUFFIX, TASK_DIR, Board, TaskSpec, parse_spec

README = "README.md"


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
    existing_paths: Sequence[str] = ()

    def board(self) -> Board:
        held = {task: e.lock for task, e in self.entries.items() if e.lock is not None}
        foreign = frozenset(task for task, e in self.entries.items() if e.lock is None)
        return Board(self.specs, held, foreign, self.existing_paths)

    def require_specs_valid(self) -> None:
        for problem in self.spec_problems.values():
            raise ConfigError(problem)


def read_snapshot(repo: GitRepo, tip: str | None) -> Snapshot:
    if tip is None:
        return Snapshot(tip=None, entries={}, specs={})
    locks = {n: e.sha for n, e in repo.ls_tree(f"{tip}:{LOCK_DIR}").items() if e.kind == "blob" and n != README}
    specs_by_name = {
        n: e.sha for n, e in repo.ls_tree(f"{tip}:{TASK_DIR}").items() if e.kind == "blob" and n.endswith(SPEC_SUFFIX)
    }
    entries: dict[str, LockEntry] = {}
    for name in sorted(locks):
        entry = repo.parsed_blob(locks[name], name, read_entry)
        # Two files for one task (say foo.lock and foo.txt): the harness lock wins the slot,
        # the other stays visible under its own file name.
        key = entry.task if entry.task not in entries else name
        entries[key] = entry
    specs: dict[str, TaskSpec] = {}
    problems: dict[str, str] = {}
    for name, sha in specs_by_name.items():
        try:
            spec = repo.parsed_blob(sha, f"{TASK_DIR}/{name}", parse_spec)
            specs[spec.id] = spec
        except ConfigError as exc:
            problems[name.removesuffix(SPEC_SUFFIX)] = str(exc)
    return Snapshot(tip=tip, entries=entries, specs=specs, spec_problems=problems, existing_paths=TipPaths(repo, tip))
