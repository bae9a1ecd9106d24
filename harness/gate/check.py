"""The gate: a push to ``main`` may not break a test that passed at the old tip.

The same check runs in two places: ``pre_receive`` on the bare upstream (the authority:
it tests the exact pushed commit, reads the baseline of the old tip, serializes test runs,
and writes the new tip's baseline) and ``pre_push`` in an agent's clone (the same check
before pushing, so the loop learns early and cheaply). Lock-only pushes (only
``current_tasks/`` changed) skip the tests: claims must stay fast. Protected paths (the
verifier, harness.yaml) can be changed only by the roles ``gate.protected_roles`` names.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from harness.config import (
    CONFIG_NAME,
    GateSettings,
    SuiteSettings,
    parse_config,
    read_gate_settings,
    read_suite_settings,
)
from harness.errors import ConfigError, GateRefused, HarnessError
from harness.gate.baseline import Baseline, BaselineStore, Judgement, judge, next_baseline
from harness.git.repo import REF_MOVED, ZERO_SHA, GitRepo
from harness.git.upstream import local_upstream_path
from harness.locks.lockfile import LOCK_DIR
from harness.testing import output
from harness.testing.model import RunResult
from harness.testing.suite import run_suite
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


@dataclass(frozen=True, kw_only=True)
class GateSite:
    """Where a gate check reads objects, keeps baselines and writes its scratch files."""

    repo: GitRepo  # can read the old and the new commit (in a hook: the quarantine too)
    stores: tuple[BaselineStore, ...]  # read in order
    write: BaselineStore  # where this site records baselines it measured
    scratch: Path
    role: str


def changed_paths(repo: GitRepo, old: str | None, new: str) -> list[str]:
    if old is None:
        return repo.out("ls-tree", "-r", "--name-only", new).splitlines()
    raw = repo.run("diff-tree", "-r", "-z", "--no-renames", "--name-only", old, new).stdout
    return [p for p in raw.decode(errors="replace").split("\0") if p]


def is_lock_only(paths: Sequence[str]) -> bool:
    return all(p.startswith(f"{LOCK_DIR}/") for p in paths)


def protected_hits(paths: Sequence[str], patterns: Sequence[str]) -> list[str]:
    def hit(path: str, pattern: str) -> bool:
        return fnmatch(path, pattern) or path.startswith(pattern.rstrip("/") + "/")

    return [p for p in paths if any(hit(p, pat) for pat in patterns)]


def settings_at(repo: GitRepo, tip: str) -> tuple[SuiteSettings, GateSettings]:
    """The tests/gate config as committed at ``tip`` — never the pushed content's."""
    blob = repo.read_blobs(tip, [CONFIG_NAME]).get(CONFIG_NAME)
    config = parse_config(blob, f"{tip[:12]}:{CONFIG_NAME}")
    return read_suite_settings(config), read_gate_settings(config)


def export_tree(repo: GitRepo, commit: str, dest: Path) -> Path:
    """A plain checkout of ``commit`` at ``dest``, made through a private index."""
    dest.mkdir(parents=True, exist_ok=True)
    env = {"GIT_INDEX_FILE": str(dest.parent / f".{dest.name}.index")}
    repo.run("read-tree", commit, env=env)
    repo.run(f"--work-tree={dest}", "checkout-index", "-a", "-f", env=env)
    Path(env["GIT_INDEX_FILE"]).unlink(missing_ok=True)
    return dest


def check(site: GateSite, old: str | None, new: str, say: Say) -> GateResult:
    """Raise Regressions when ``new`` would break what passed at ``old``; else store the new baseline."""
    paths = changed_paths(site.repo, old, new)
    if is_lock_only(paths):
        return GateResult(new, skipped="lock-only push" if paths else "no file changed")
    try:
        suite, gate = settings_at(site.repo, old or new)
    except ConfigError:
        # A broken harness.yaml at the tip must stay fixable: only a default-protected role
        # (lead) may push the fix, tested with the pushed config.
        if old is None or site.role not in GateSettings().protected_roles:
            raise
        say("gate: harness.yaml at the old tip is unreadable; testing this lead push with the pushed config")
        suite, gate = settings_at(site.repo, new)
    touched = protected_hits(paths, gate.protected)
    if touched and site.role not in gate.protected_roles:
        allowed = ", ".join(gate.protected_roles) or "no role"
        lines = [
            f"ERROR {p}: protected path; only {allowed} may change it (this push: role {site.role or 'none'})"
            for p in touched
        ]
        raise Regressions(f"refused: the push changes {len(touched)} protected path(s)", lines)
    if CONFIG_NAME in paths:
        _require_valid_config(site, new)
    old_baseline = _baseline_for(site, old, suite, say)
    tree = export_tree(site.repo, new, site.scratch / f"tree-{new[:12]}")
    say(f"gate: testing {new[:12]} against the baseline of {old[:12] if old else '(none)'}")
    run = run_suite(tree, suite, site.scratch / f"gate-{new[:12]}.log", say=say)
    durable_log = _keep_log(site, run.log_path)

    def rerun(ids: Sequence[str]) -> RunResult:
        say(f"gate: re-running {len(ids)} failing test(s) before calling them regressions")
        return run_suite(tree, suite, site.scratch / f"rerun-{new[:12]}.log", only=ids)

    verdict = judge(old_baseline, run, rerun, gate)
    if not verdict.ok:
        lines = output.error_lines(run, verdict.regressions, suite.max_errors)
        lines = [ln for ln in lines if ln.startswith("ERROR (run)") or "regression:" in ln or ln.startswith("...")]
        raise Regressions(
            f"refused: {len(verdict.regressions)} test(s) that passed at {old_baseline.tip[:12]} now fail",
            [*lines, f"log: {durable_log}"],
        )
    if CONFIG_NAME in paths and settings_at(site.repo, new)[0] != suite:
        # The push changes how tests run: what passed under the old settings says nothing
        # about the new ones, so the new tip's baseline is measured under its own settings
        # by the next gated push (see _baseline_for) instead of being inherited.
        say(f"gate: test settings changed; the baseline of {new[:12]} will be measured at the next push")
    else:
        site.write.save(next_baseline(old_baseline, new, verdict))
    return GateResult(new, verdict=verdict, run=run)


def _require_valid_config(site: GateSite, new: str) -> None:
    """A push may not leave a harness.yaml on main that the next push cannot read."""
    try:
        settings_at(site.repo, new)
    except ConfigError as exc:
        raise Regressions("refused: the pushed harness.yaml is invalid", [f"ERROR {CONFIG_NAME}: {exc}"]) from exc


def _baseline_for(site: GateSite, old: str | None, suite: SuiteSettings, say: Say) -> Baseline:
    if old is None:
        return Baseline("0" * 40, frozenset())
    for store in (*site.stores, site.write):
        found = store.load(old)
        if found is not None:
            return found
    # First gated push after install (or a tip made before the gate): measure the old tip.
    say(f"gate: no baseline for {old[:12]} yet; running the suite there once")
    tree = export_tree(site.repo, old, site.scratch / f"tree-{old[:12]}")
    run = run_suite(tree, suite, site.scratch / f"baseline-{old[:12]}.log", say=say)
    baseline = Baseline(old, frozenset(run.passed()))
    site.write.save(baseline)
    return baseline


def _keep_log(site: GateSite, log: Path) -> Path:
    """Scratch is deleted after the check; the log the pusher is pointed at must stay."""
    keep = site.write.directory.parent / "logs" / log.name
    keep.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(log, keep)
    return keep


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
    stores = (BaselineStore(upstream / "harness" / "baseline"),) if upstream else ()
    with scratch_dir(ws.state_dir / "gate-tmp") as scratch:
        site = GateSite(
            repo=ws.repo,
            stores=stores,
            write=BaselineStore(ws.state_dir / "baseline"),
            scratch=scratch,
            role=pusher_role(),
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
    if is_lock_only(changed_paths(repo, old, new)):
        return
    _require_unmoved(repo, target, old)
    with serialized(state / "gate.lock"):
        # Another push may have landed while we queued: then ours is stale, say so now.
        _require_unmoved(repo, target, old)
        with scratch_dir(state / "tmp") as scratch:
            store = BaselineStore(state / "baseline")
            site = GateSite(repo=repo, stores=(), write=store, scratch=scratch, role=pusher_role())
            result = check(site, old, new, say)
    if result.verdict is not None:
        verdict = result.verdict
        say(
            f"gate: ok, {len(verdict.passed)} passing; {len(verdict.new_passes)} newly passing; "
            f"{len(verdict.flaky)} flaky"
        )
        for tid in verdict.flaky:
            say(f"FLAKY {tid}: failed, then passed on re-run (not counted as a regression)")


def _require_unmoved(repo: GitRepo, target: str, old: str | None) -> None:
    current = repo.rev_parse(target)
    if current != old:
        now = current[:12] if current else "(none)"
        raise GateRefused(f"refused: {target} {REF_MOVED} (now {now}); fetch, merge, push again")
