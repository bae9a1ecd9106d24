"""The gate's two entry points around ``judge.judge_push``.

``pre_receive`` on the bare upstream is the authority: it judges the exact pushed commit
against the old tip (its verifier and baseline), serializes test runs, and stores the new
tip's baseline. ``pre_push`` in an agent's clone runs the same judgement before pushing,
so the loop learns early and cheaply. What the judgement decides: judge.py, docs/gate.md.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.errors import GateRefused, HarnessError
from harness.gate.baseline import BaselineStore, Judgement
from harness.gate.judge import judge_push, quick_judgement
from harness.gate.runs import GateSite
from harness.git.repo import REF_MOVED, ZERO_SHA, GitRepo
from harness.git.upstream import local_upstream_path
from harness.testing.model import RunResult
from harness.workspace import Workspace

Say = Callable[[str], None]


class Regressions(GateRefused):
    """Refused, with the ERROR lines the pusher must see."""

    def __init__(self, headline: str, lines: Sequence[str]) -> None:
        self.headline = headline
        self.lines = list(lines)
        super().__init__("\n".join([headline, *self.lines]))


@dataclass(frozen=True)
class GateResult:
    tip: str
    skipped: str = ""  # why no tests ran ("lock-only push"), else ""
    verdict: Judgement | None = None
    run: RunResult | None = None
    note: str = ""  # how to read the counts (judge.Decision.note)


def check(site: GateSite, old: str | None, new: str, say: Say) -> GateResult:
    """Raise Regressions when ``new`` may not replace ``old``; else store the new baseline."""
    decision = judge_push(site, old, new, say)
    if not decision.ok:
        raise Regressions(decision.headline, decision.errors)
    if decision.baseline is not None:
        site.write.save(decision.baseline)
    return GateResult(new, decision.skipped, decision.verdict, decision.run, decision.note)


@contextmanager
def scratch_dir(parent: Path) -> Iterator[Path]:
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="gate-", dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def serialized(lock_path: Path) -> Iterator[None]:
    """One gate test run at a time per upstream: concurrent pre-receive hooks queue here."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pusher_role() -> str:
    """The role the pushing loop declared (HARNESS_ROLE); see docs/testing.md on trust."""
    return os.environ.get("HARNESS_ROLE", "")


def is_zero(sha: str) -> bool:
    return sha == ZERO_SHA or set(sha) == {"0"}


# -- the two entry points ------------------------------------------------------------------


def _quiet(_: str) -> None:
    pass


def pre_push(ws: Workspace, say: Say = _quiet) -> GateResult | None:
    """Raise Regressions (GateRefused, exit 6) when local HEAD would regress upstream main.

    Compares against the baseline of upstream main's tip, exactly as the upstream's gate
    will; None when there is nothing to push. Baselines it has to measure itself are kept
    in the clone (``.git/harness/baseline``), never written to the upstream.
    """
    from harness.git.publish import fetch_main

    tip = fetch_main(ws.repo, ws.config.branch)
    head = ws.repo.rev_parse("HEAD")
    if head is None or head == tip or (tip is not None and ws.repo.is_ancestor(head, tip)):
        return None
    upstream = local_upstream_path(ws.repo)
    # Advisory: an agent's clone may not read the upstream's key; the upstream's gate decides.
    stores = (BaselineStore(upstream / "harness" / "baseline", advisory=True),) if upstream else ()
    with scratch_dir(ws.state_dir / "gate-tmp") as scratch:
        site = GateSite(
            repo=ws.repo,
            stores=stores,
            write=BaselineStore(ws.state_dir / "baseline"),
            scratch=scratch,
            role=pusher_role(),
            protect=(ws.root, *((upstream,) if upstream else ())),
            say=say,
        )
        return check(site, tip, head, say)


HOOK_ENV_VARS = ("GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_QUARANTINE_PATH")


def pre_receive(git_dir: Path, stdin: str, branch: str, say: Say) -> int:
    """The upstream's pre-receive hook body: 0 accepts every ref update, 1 refuses the push."""
    # The pushed objects live in the quarantine until we accept: keep git pointed at it.
    env = {k: os.environ[k] for k in HOOK_ENV_VARS if k in os.environ}
    repo = GitRepo(git_dir, env={"GIT_DIR": str(git_dir), **env})
    target = f"refs/heads/{branch}"
    state = git_dir / "harness"
    try:
        for line in stdin.splitlines():
            old, new, ref = ([*line.split(), "", "", ""])[:3]
            if ref != target:
                continue  # heartbeats, orphans, parked work: not the gate's business
            if is_zero(new):
                raise GateRefused(f"refused: deleting {target} is not allowed")
            _gate_one(repo, state, target, None if is_zero(old) else old, new, say)
    except Regressions as exc:
        for text in [exc.headline, *exc.lines]:
            say(text)
        return 1
    except HarnessError as exc:
        say(f"ERROR gate: {exc}")
        return 1
    return 0


def _gate_one(repo: GitRepo, state: Path, target: str, old: str | None, new: str, say: Say) -> None:
    quick = quick_judgement(repo, old, new)  # outside the lock: claims never queue behind a test run
    if quick is not None and not quick.ok:
        raise Regressions(quick.headline, quick.errors)
    if quick is not None:
        return
    _require_unmoved(repo, target, old)
    with serialized(state / "gate.lock"):
        # Another push may have landed while we queued: then ours is stale, say so now.
        _require_unmoved(repo, target, old)
        with scratch_dir(state / "tmp") as scratch:
            store = BaselineStore(state / "baseline")
            site = GateSite(
                repo=repo, stores=(), write=store, scratch=scratch, role=pusher_role(), protect=(state.parent,), say=say
            )
            result = check(site, old, new, say)
    if result.verdict is not None:
        verdict = result.verdict
        under = f" ({result.note})" if result.note else ""
        say(
            f"gate: ok, {len(verdict.passed)} passing{under}; {len(verdict.new_passes)} newly passing; "
            f"{len(verdict.flaky)} flaky"
        )
        for tid in verdict.flaky:
            say(f"FLAKY {tid}: failed, then passed on re-run (not counted as a regression)")
    elif result.skipped:
        say(f"gate: ok ({result.skipped}, no tests run)")


def _require_unmoved(repo: GitRepo, target: str, old: str | None) -> None:
    current = repo.rev_parse(target)
    if current != old:
        now = current[:12] if current else "(none)"
        raise GateRefused(f"refused: {target} {REF_MOVED} (now {now}); fetch, merge, push again")
