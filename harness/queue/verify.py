"""One batch judged by the gate's trusted verifier: the same check the pre-receive hook runs on
a direct push (the old tip's tests, configuration and baseline), run by the queue runner.

Baselines of bookkeeping tips (a claim, a hand-back: only locks and specs changed) are
inherited from the nearest first-parent ancestor that has one, never measured again: a
landed change costs one suite run, not two. A batch tested speculatively on the head of a
batch still under test waits for that batch's verdict, which is the baseline of its base
(``pending``), instead of measuring the base a second time; a red verdict makes the
speculative batch worthless (the runner discards it), so its check stops there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from harness.errors import HarnessError
from harness.gate.baseline import Baseline, BaselineStore
from harness.gate.check import scratch_dir
from harness.gate.judge import judge_push, settings_at
from harness.gate.runs import GateSite, baseline_for
from harness.git.repo import GitRepo
from harness.queue.landing import only_bookkeeping

Say = Callable[[str], None]
INHERIT_DEPTH = 200  # first-parent steps searched for an ancestor's baseline


@dataclass(frozen=True)
class Judgement:
    ok: bool
    lines: tuple[str, ...]  # ERROR lines when refused
    seconds: float = 0.0
    run_seconds: float = 0.0  # of the batch's own suite run (no baseline, no waiting): 0 when none ran


class Superseded(HarnessError):
    """The batch under this one failed: this check's result would be thrown away."""


class Verifier:
    """Runs gate checks for the runner, several at once (each in its own scratch)."""

    def __init__(self, upstream: Path, state: Path, say: Say) -> None:
        self.upstream = upstream
        self.state = state
        self.baselines = BaselineStore(state / "baseline")
        self.say = say
        self.suite_runs = 0
        self._lock = threading.Lock()
        self._under_test: dict[str, threading.Event] = {}  # heads being judged now
        self._failed: set[str] = set()  # heads judged red (a batch built on one is worthless)

    def judge(self, base: str, head: str, role: str) -> Judgement:
        # Announced at once (the pool starts every flight as it is submitted): a check built
        # on ``head`` reaches its baseline only after its own runs, and then waits for ours.
        with self._lock:
            self._under_test.setdefault(head, threading.Event())
        judgement = Judgement(False, ("ERROR gate: the check ended early",))
        try:
            judgement = self._judge(base, head, role)
            return judgement
        finally:
            with self._lock:
                done = self._under_test.pop(head, None)
                if not judgement.ok:
                    self._failed.add(head)
            if done is not None:
                done.set()

    def _judge(self, base: str, head: str, role: str) -> Judgement:
        started = time.monotonic()
        repo = open_upstream(self.upstream)  # its own object reader: judges run in threads
        self.inherit_bookkeeping_baseline(repo, base)
        with self._lock:
            self.suite_runs += 1
        with scratch_dir(self.state / "tmp") as scratch:
            site = GateSite(
                repo=repo,
                stores=(),
                write=self.baselines,
                scratch=scratch,
                role=role,
                protect=(self.upstream,),
                pending=lambda old: self._verdict_of(repo, old),
            )
            try:
                decision = judge_push(site, base, head, _quiet)
            except HarnessError as exc:
                return Judgement(False, (f"ERROR gate: {exc}",), time.monotonic() - started)
        if not decision.ok:
            return Judgement(False, (decision.headline, *decision.errors), time.monotonic() - started)
        if decision.baseline is not None:
            self.baselines.save(decision.baseline)
        ran = decision.run.seconds if decision.run is not None else 0.0
        return Judgement(True, (), time.monotonic() - started, ran)

    def warm(self, tip: str) -> None:
        """Measure main's baseline while the queue is idle (a fresh runner, or a tip a person's
        push left unmeasured), so the first batch does not pay a second suite run; a batch
        started meanwhile waits for this run (``_verdict_of``) instead of measuring again."""
        repo = open_upstream(self.upstream)
        try:
            self.inherit_bookkeeping_baseline(repo, tip)
            if self.baselines.load(tip) is not None or self._verdict_of(repo, tip) is not None:
                return  # known, or inherited from a claim's parent being measured now
            config = settings_at(repo, tip)
        except HarnessError as exc:
            self.say(f"WARNING queue: could not measure the baseline of {tip[:12]} ahead: {exc}")
            return
        with self._lock:
            if tip in self._under_test or not config.runs_tests:
                return
            done = self._under_test[tip] = threading.Event()
            self.suite_runs += 1
        try:
            with scratch_dir(self.state / "tmp") as scratch:
                site = GateSite(
                    repo=repo, stores=(), write=self.baselines, scratch=scratch, role="", protect=(self.upstream,)
                )
                baseline_for(site, tip, config.suite, _quiet)
        except HarnessError as exc:
            self.say(f"WARNING queue: could not measure the baseline of {tip[:12]} ahead: {exc}")
        finally:
            with self._lock:
                self._under_test.pop(tip, None)
            done.set()

    def _verdict_of(self, repo: GitRepo, base: str) -> Baseline | None:
        """The baseline of ``base`` once the check under way of it, or of an ancestor it differs
        from by bookkeeping only (a claim on a tip being measured), ends; None when none is."""
        awaited = self._awaited(repo, base)
        if awaited is None:
            return None
        with self._lock:
            running = self._under_test.get(awaited)
        if running is not None:
            running.wait()
        with self._lock:
            failed = awaited in self._failed
        if failed:
            raise Superseded(f"the batch at {awaited[:12]} under this one failed; this batch is tested again")
        self.inherit_bookkeeping_baseline(repo, base)
        return self.baselines.load(base)  # None when its verifier changed: measured under the new one

    def _awaited(self, repo: GitRepo, tip: str) -> str | None:
        """``tip`` or its nearest first-parent ancestor through bookkeeping commits that a check
        is measuring now; None when there is none."""
        current = tip
        for _ in range(INHERIT_DEPTH):
            with self._lock:
                if current in self._under_test:
                    return current
            parent = repo.rev_parse(f"{current}^1")
            if parent is None or not only_bookkeeping(repo, parent, current):
                return None
            current = parent
        return None

    def inherit_bookkeeping_baseline(self, repo: GitRepo, tip: str) -> None:
        if self.baselines.load(tip) is not None:
            return
        current = tip
        for _ in range(INHERIT_DEPTH):
            parent = repo.rev_parse(f"{current}^1")
            if parent is None or not only_bookkeeping(repo, parent, current):
                return
            found = self.baselines.load(parent)
            if found is not None:
                self.baselines.save(replace(found, tip=tip))
                return
            current = parent


def open_upstream(upstream: Path) -> GitRepo:
    """A handle on the bare upstream. Each thread needs its own: a GitRepo keeps one
    persistent object reader, which two threads must never share."""
    return GitRepo(upstream, env={"GIT_DIR": str(upstream)})


def _quiet(_: str) -> None:
    pass
