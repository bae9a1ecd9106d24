"""What the upstream tip says: every entry of ``current_tasks/`` and every task spec."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.errors import ConfigError
from harness.gitops import GitRepo
from harness.lockfile import LOCK_DIR, LockEntry, read_entry
from harness.tasks import SPEC_SUFFIX, TASK_DIR, Board, TaskSpec, parse_spec

README = "README.md"


@dataclass(frozen=True)
class Snapshot:
    tip: str | None
    entries: dict[str, LockEntry]  # by task; foreign and malformed files included
    specs: dict[str, TaskSpec]
    spec_problems: dict[str, str] = field(default_factory=dict)  # task -> error line
    existing_paths: tuple[str, ...] = ()

    def board(self) -> Board:
        held = {task: e.lock for task, e in self.entries.items() if e.lock is not None}
        foreign = frozenset(task for task, e in self.entries.items() if e.lock is None)
        return Board(self.specs, held, foreign, self.existing_paths)

    def require_specs_valid(self) -> None:
        for problem in self.spec_problems.values():
            raise ConfigError(problem)


def read_snapshot(repo: GitRepo, tip: str | None, with_paths: bool = False) -> Snapshot:
    if tip is None:
        return Snapshot(None, {}, {})
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
    paths: tuple[str, ...] = ()
    if with_paths:
        paths = tuple(repo.out("ls-tree", "-r", "--name-only", tip).splitlines())
    return Snapshot(tip, entries, specs, problems, paths)
