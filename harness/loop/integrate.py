"""Putting a session's commits on top of upstream ``main``: the design's conflict classes.

The loop rebases the agent's commits onto the fetched tip. When a commit does not apply
cleanly, every conflicted file is classified:

- **lock**: a file under ``current_tasks/`` — the lock changed under us: the work is *lost*
  as far as this task goes (kept on a side ref, never dropped);
- **dependency**: a dependency lock file (uv.lock, package-lock.json, Cargo.lock, ...) —
  take upstream's and re-run the configured regenerate command; one that fails, or hangs
  past ``loop.regenerate_timeout_seconds`` (then its whole process group is killed), parks
  the work like an unresolved conflict;
- **additive**: both sides only *added* lines at the same place (every conflict hunk has
  an empty base) — keep both, upstream's first, automatically;
- **same lines**: anything else — handed to the agent for one resolution session; failing
  that, the rebase is aborted and the work parked on a side ref with an ERROR line.

Nothing is lost on any path (invariant 6): an aborted rebase leaves the agent's commits as
they were, and parking pushes them to ``refs/harness/parked/<agent>/<task>-<time>``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from harness.git.leftovers import interrupted_operation
from harness.git.markers import has_markers, keep_both_sides
from harness.git.publish import REMOTE_MAIN
from harness.git.repo import GitResult, identity_env
from harness.locks.lockfile import LOCK_DIR
from harness.locks.release import park_local_work
from harness.runtime import process
from harness.workspace import Workspace

DEPENDENCY_LOCKS = frozenset(
    {
        "uv.lock",
        "poetry.lock",
        "Pipfile.lock",
        "pdm.lock",
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "bun.lockb",
        "Cargo.lock",
        "Gemfile.lock",
        "composer.lock",
        "go.sum",
        "flake.lock",
        "mix.lock",
    }
)
MAX_REBASE_STEPS = 500  # a guard against a rebase that never finishes; far above any session's commits


@dataclass(frozen=True)
class Regenerate:
    """``loop.regenerate``: lock file name (or path) → the command that rebuilds it, with its
    timeout and the SIGTERM → SIGKILL grace for a command past it."""

    commands: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 900.0
    grace: float = process.GRACE_SECONDS


class ConflictClass(Enum):
    LOCK = "lock"
    DEPENDENCY = "dependency"
    ADDITIVE = "additive"
    SAME_LINES = "same-lines"


class RebaseVerdict(Enum):
    CLEAN = "clean"  # rebased (possibly after automatic or agent resolutions)
    LOST = "lost"  # a lock-file conflict: parked
    PARKED = "parked"  # unresolved same-lines conflict, or a failed regenerate: parked


@dataclass(kw_only=True)
class IntegrateResult:
    verdict: RebaseVerdict
    resolved: list[str] = field(default_factory=list)  # "additive: README.md", ...
    resolution_sessions: int = 0
    parked_ref: str | None = None
    error: str = ""


# (conflicted files) -> True when the agent says it resolved them
Resolver = Callable[[list[str]], bool]


def classify(ws: Workspace, path: str) -> ConflictClass:
    if path.startswith(f"{LOCK_DIR}/"):
        return ConflictClass.LOCK
    if Path(path).name in DEPENDENCY_LOCKS:
        return ConflictClass.DEPENDENCY
    if _only_additions(ws, path):
        return ConflictClass.ADDITIVE
    return ConflictClass.SAME_LINES


def rebase_onto_upstream(
    ws: Workspace,
    task: str,
    resolver: Resolver,
    regenerate: Regenerate,
    max_sessions: int = 1,
) -> IntegrateResult:
    """Rebase HEAD onto origin/main resolving by class; on failure abort and park."""
    result = IntegrateResult(verdict=RebaseVerdict.CLEAN)
    _git(ws, "rebase", "--quiet", REMOTE_MAIN)
    for _ in range(MAX_REBASE_STEPS):
        if not rebase_in_progress(ws):
            return result
        conflicted = _unmerged(ws)
        classes = {path: classify(ws, path) for path in conflicted}
        if ConflictClass.LOCK in classes.values():
            locks = [p for p, c in classes.items() if c is ConflictClass.LOCK]
            return _give_up(ws, task, result, RebaseVerdict.LOST, f"lock file conflict in {', '.join(locks)}")
        pending: list[str] = []
        for path, kind in classes.items():
            if kind is ConflictClass.DEPENDENCY:
                problem = _take_upstream_and_regenerate(ws, path, regenerate)
                if problem:
                    return _give_up(ws, task, result, RebaseVerdict.PARKED, problem)
                result.resolved.append(f"dependency: {path}")
            elif kind is ConflictClass.ADDITIVE:
                _keep_both(ws, path)
                result.resolved.append(f"additive: {path}")
            else:
                pending.append(path)
        if pending:
            if result.resolution_sessions >= max_sessions:
                return _give_up(ws, task, result, RebaseVerdict.PARKED, f"same-lines conflict in {', '.join(pending)}")
            result.resolution_sessions += 1
            if not resolver(pending) or not _resolved(ws, pending):
                files = ", ".join(pending)
                return _give_up(
                    ws, task, result, RebaseVerdict.PARKED, f"the agent did not resolve the conflict in {files}"
                )
            result.resolved.append(f"same-lines (agent): {', '.join(pending)}")
        _continue(ws)
    return _give_up(ws, task, result, RebaseVerdict.PARKED, "the rebase did not finish")


def rebase_in_progress(ws: Workspace) -> bool:
    return interrupted_operation(ws.repo) == "rebase"


def _unmerged(ws: Workspace) -> list[str]:
    return [p for p in _git(ws, "diff", "--name-only", "--diff-filter=U").stdout.decode().splitlines() if p]


def _only_additions(ws: Workspace, path: str) -> bool:
    """Re-create the conflict with diff3 markers; additive iff every hunk's base is empty."""
    if _git(ws, "checkout", "--conflict=diff3", "--", path).returncode != 0:
        return False  # modify/delete and other tree-level conflicts: not additive
    try:
        text = (ws.root / path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    hunks = 0
    in_base = False
    for line in text.splitlines():
        if line.startswith("<<<<<<< "):
            hunks += 1
        elif line.startswith("||||||| "):
            in_base = True
        elif line == "=======" and in_base:
            in_base = False
        elif in_base:
            return False
    return hunks > 0


def _keep_both(ws: Workspace, path: str) -> None:
    target = ws.root / path
    target.write_text(keep_both_sides(target.read_text(encoding="utf-8")), encoding="utf-8")
    _git(ws, "add", "--", path)


def _take_upstream_and_regenerate(ws: Workspace, path: str, regenerate: Regenerate) -> str:
    """Take upstream's lock file and rebuild it; "" when done, else why not (the work is parked)."""
    # During a rebase "ours" is the branch being rebuilt: upstream's tip plus replayed commits.
    if _git(ws, "checkout", "--ours", "--", path).returncode != 0:
        _git(ws, "checkout", REMOTE_MAIN, "--", path)
    command = regenerate.commands.get(Path(path).name) or regenerate.commands.get(path)
    if command:
        what = f"`{command}` (regenerating {path})"
        try:
            done = process.run(command, ws.root, regenerate.timeout, grace=regenerate.grace)
        except OSError as exc:  # the clone's directory vanished, no /bin/sh, out of processes
            return f"{what} could not start: {exc.strerror or exc}"
        if done.timed_out:
            return f"{what} {process.describe_exit(None, regenerate.timeout)} and was killed"
        if done.returncode != 0:
            last = done.last_line()
            return f"{what} {process.describe_exit(done.returncode, None)}" + (f": {last}" if last else "")
    _git(ws, "add", "--", path)
    return ""


def _resolved(ws: Workspace, paths: list[str]) -> bool:
    """The agent resolved: no unmerged paths left and no conflict markers in the files."""
    if not rebase_in_progress(ws):
        return True  # the agent finished the rebase itself
    for path in paths:
        target = ws.root / path
        if target.exists() and has_markers(target.read_text(errors="replace")):
            return False
        _git(ws, "add", "--", path) if target.exists() else _git(ws, "rm", "--quiet", "--cached", "--", path)
    return not _unmerged(ws)


def _continue(ws: Workspace) -> None:
    if not rebase_in_progress(ws):
        return
    proc = _git(ws, "rebase", "--continue")
    if proc.returncode != 0 and not _unmerged(ws) and rebase_in_progress(ws):
        # The resolution made the commit empty (upstream already had the change): skip it.
        _git(ws, "rebase", "--skip")


def _give_up(ws: Workspace, task: str, result: IntegrateResult, verdict: RebaseVerdict, why: str) -> IntegrateResult:
    if rebase_in_progress(ws):
        _git(ws, "rebase", "--abort")
    ref = park(ws, task)
    result.verdict = verdict
    result.parked_ref = ref
    result.error = f"{why}; your commits are kept on {ref}" if ref else why
    return result


def park(ws: Workspace, task: str) -> str | None:
    """Push HEAD's commits to a fresh side ref (never overwriting an older one); the ref or None."""
    parked = park_local_work(ws, "parked", task)
    return parked[0] if parked else None


def _git(ws: Workspace, *args: str) -> GitResult:

    return ws.repo.run(*args, check=False, env={**identity_env(ws.agent), "GIT_EDITOR": "true"})
