"""The queue runner: one per upstream, it takes submissions in order, tests them in batches
with the trusted verifier, lands green batches in one compare-and-swap of main, and splits a
red batch to refuse only its culprits.

Speculation (Zuul's dependent pipeline): while batch k is tested, batch k+1 is built on k's
head and tested too, up to ``queue.parallel`` runs at once; results are taken in order, and a
red k discards what was built on it. Everything the runner knows lives in refs (the
submissions, the refused work) and in main itself, so kill -9 at any point loses nothing: the
next runner sees what landed (a submission already in main) and tests the rest again.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.config import QueueSettings
from harness.errors import HarnessError
from harness.queue.batch import Batch, build
from harness.queue.culprits import split_batch
from harness.queue.journal import Journal, QueueState
from harness.queue.landing import drop_refs, hand_back, keep_refused, land, main_ref
from harness.queue.submission import Submission, read_submissions
from harness.queue.verify import Judgement, Verifier, open_upstream

Say = Callable[[str], None]
GATHER_SECONDS = 0.3  # a submission burst is over when none came for this long
UNDECIDED_LIMIT = 3  # a submission whose batch keeps failing flakily is refused after this many tries


@dataclass
class Flight:
    batch: Batch
    future: Future[Judgement]
    started: float  # time.monotonic()


def state_dir(upstream: Path) -> Path:
    return upstream / "harness" / "queue"


@contextmanager
def exclusive(upstream: Path, wait: bool) -> Iterator[None]:
    """One runner per upstream: a second one refuses (or, with ``wait``, waits its turn)."""
    path = state_dir(upstream) / "runner.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip() or "?"
            raise HarnessError(
                f"another queue runner (pid {pid}) already serves {upstream}; "
                "stop it first, or pass --wait to take over when it ends"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield


class Runner:
    def __init__(self, upstream: Path, settings: QueueSettings, say: Say, branch: str = "main") -> None:
        self.upstream = upstream
        self.repo = open_upstream(upstream)  # the runner's own thread only
        self.settings = settings
        self.say = say
        self.branch = branch
        self.verifier = Verifier(upstream, upstream / "harness", say)
        self.journal = Journal.load(state_dir(upstream) / "journal.json")
        self.journal.runner_pid = os.getpid()
        self.verifier.suite_runs = self.journal.suite_runs
        self.pool = ThreadPoolExecutor(settings.runs_at_once(), thread_name_prefix="queue-test")
        self.flights: list[Flight] = []
        self.tries: dict[str, int] = {}  # submission commit -> undecided outcomes so far
        self.run_seconds = 0.0  # how long a batch's check takes, recently (0: not known yet)
        self.arrived_at: dict[str, float] = {}  # submission commit -> when this runner first saw it
        self.gathering = False  # submissions wait, none under test: look again soon, do not idle
        self.warmed = ""  # the main tip whose baseline was last measured (or tried) ahead
        self.draining = False  # --until-empty: no measuring ahead for batches that will not come
        self._seen: tuple[object, ...] | None = None

    # -- the loop ----------------------------------------------------------------------

    def serve(self, stop: Callable[[], bool], until_empty: bool = False) -> None:
        self.draining = until_empty
        try:
            while not stop():
                if not (self.upstream / "HEAD").exists():
                    raise HarnessError(f"{self.upstream}: the upstream is gone; the queue runner stops")
                try:
                    worked = self.cycle()
                except HarnessError as exc:
                    self.say(f"ERROR queue: {exc}; retrying")
                    worked = False
                if until_empty and not self.flights and not read_submissions(self.repo):
                    return
                if not worked and not self.flights:
                    if self.gathering:
                        time.sleep(GATHER_SECONDS / 4)  # submissions wait for their burst to end
                    else:
                        self._idle(stop)
        finally:
            self.flights.clear()
            self.journal.set_testing([])
            self._sync_journal()
            self.pool.shutdown(wait=False, cancel_futures=True)

    def cycle(self) -> bool:
        """Start what can start, take the oldest result if it is ready; True when anything moved."""
        # Submissions first, then main: an agent fetched main before it pushed its submission,
        # so main read now contains every commit a submission was built on.
        subs = read_submissions(self.repo)
        tip = self.repo.rev_parse(main_ref(self.branch))
        if tip is None:
            return False
        subs = self._settle_landed(subs, tip)
        started = self._start_flights(subs, tip)
        if not self.flights:
            return started
        first = self.flights[0]
        try:
            judgement = first.future.result(timeout=self.settings.poll_seconds)
        except FutureTimeout:
            return started
        self.flights.pop(0)
        self._learn(judgement)
        if judgement.ok:
            self._land(first.batch)
        else:
            self.flights.clear()  # built on a red batch: worthless now
            self._split(first.batch, judgement)
        self.journal.set_testing(s for f in self.flights for s in f.batch.members)
        self._sync_journal()
        return True

    def _idle(self, stop: Callable[[], bool]) -> None:
        """Wait until the queue's refs or main change (a stat, not a git process, per look)."""
        while not stop():
            seen = self._signature()
            if seen != self._seen:
                self._seen = seen
                return
            time.sleep(self.settings.poll_seconds)

    def _signature(self) -> tuple[object, ...]:
        marks: list[object] = []
        for path in (self.upstream / "refs/harness/queue", self.upstream / "packed-refs", self.upstream / "refs/heads"):
            try:
                stat = path.stat()
                marks.append((stat.st_mtime_ns, stat.st_size))
            except FileNotFoundError:
                marks.append(None)
        marks.append(self.repo.rev_parse(main_ref(self.branch)))
        return tuple(marks)

    # -- steps ---------------------------------------------------------------------

    def _settle_landed(self, subs: list[Submission], tip: str) -> list[Submission]:
        """Submissions already in main (a runner killed after landing): drop their refs."""
        done = [s for s in subs if self.repo.is_ancestor(s.commit, tip)]
        if done:
            drop_refs(self.repo, done)
            self.journal.record(done, QueueState.LANDED, reason="found in main")
        return [s for s in subs if s not in done]

    def _start_flights(self, subs: list[Submission], tip: str) -> bool:
        flying = {s.task for f in self.flights for s in f.batch.members}
        pending = [s for s in subs if s.task not in flying]
        started = False
        now = time.monotonic()
        self.arrived_at = {s.commit: self.arrived_at.get(s.commit, now) for s in subs}
        while pending and len(self.flights) < self.settings.runs_at_once() and self._may_start(pending):
            role = pending[0].role
            group = [s for s in pending if s.role == role][: self.settings.batch_size]
            pending = [s for s in pending if s not in group]
            base = self.flights[-1].batch.head if self.flights else tip
            # Fencing and "only its own lock" are judged at main's tip: a speculative base is an
            # older main plus a batch, and lacks the claims made since.
            batch = build(self.repo, base, group, check_locks_at=tip)
            for sub, reason in batch.rejected.values():
                self._refuse(sub, [f"ERROR {sub.task}: {reason}"], counts=False)
            if not batch.members:
                continue
            names = ", ".join(s.task for s in batch.members[:8]) + (" ..." if len(batch.members) > 8 else "")
            self.say(f"queue: testing {len(batch.members)} submission(s) on {base[:12]}: {names}")
            future = self.pool.submit(self.verifier.judge, base, batch.head, role)
            self.flights.append(Flight(batch, future, time.monotonic()))
            self.journal.batches += 1
            started = True
        self.gathering = bool(pending) and not self.flights
        if not self.flights and not self.draining and tip != self.warmed:
            self.warmed = tip  # once per tip: a failed measurement is the first batch's to redo
            self.pool.submit(self.verifier.warm, tip)
        if started:
            self.journal.set_testing(s for f in self.flights for s in f.batch.members)
            self._sync_journal()
        return started

    def _may_start(self, pending: Sequence[Submission]) -> bool:
        """Whether another batch may start now (the share of a run: recent run time / runs at once).

        Staggered: a speculative batch waits until the last one has run for its share. Runs
        that start together end together, and a batch of one started just after another holds
        its slot for a whole run while the next arrivals wait for a slot (a fleet's last
        submissions, most of all). Staggered, the slots never stand idle while work waits, so
        a backlog drains as fast as without the wait.

        Gathered: a batch that is not full starts once no submission came for GATHER_SECONDS
        (bursts: loops started together, sessions of like length, idle loops woken by the same
        landing), or when its oldest has waited a share. Before the first run there is no
        share: batches start at once."""
        now = time.monotonic()
        share = self.run_seconds / self.settings.runs_at_once()
        if self.flights and now - self.flights[-1].started < share:
            return False
        if len(pending) >= self.settings.batch_size:
            return True
        arrived = [self.arrived_at.get(s.commit, now) for s in pending]
        return now - max(arrived) >= min(GATHER_SECONDS, share) or now - min(arrived) >= share

    def _learn(self, judgement: Judgement) -> None:
        """Keep ``run_seconds`` near recent suite runs (a check that had to measure a baseline
        or wait for the batch under it took longer than the next one will)."""
        if judgement.run_seconds:
            seen = judgement.run_seconds
            self.run_seconds = seen if not self.run_seconds else 0.7 * self.run_seconds + 0.3 * seen

    def _land(self, batch: Batch) -> None:
        landed = land(self.repo, self.branch, batch, self.verifier.baselines)
        if landed is None:
            self.say("queue: main moved under the batch (not only by locks); testing it again")
            self.flights.clear()
            return
        drop_refs(self.repo, landed.batch.members)
        self.journal.record(landed.batch.members, QueueState.LANDED)
        tasks = ", ".join(s.task for s in landed.batch.members)
        self.say(f"queue: landed {len(landed.batch.members)} on main at {landed.tip[:12]}: {tasks}")

    def _split(self, batch: Batch, judgement: Judgement) -> None:
        if len(batch.members) == 1:
            self._refuse(batch.members[0], judgement.lines, counts=True)
            return
        self.say(f"queue: batch of {len(batch.members)} failed; looking for the culprits")
        jobs = self.settings.runs_at_once()
        ref = main_ref(self.branch)
        split = split_batch(self.upstream, ref, batch, judgement.lines, self.verifier.judge, self.pool, jobs)
        for sub, lines in split.culprits.values():
            self._refuse(sub, lines, counts=True)
        if split.good is not None:
            self._land(split.good)
        for sub in split.undecided:
            self.tries[sub.commit] = self.tries.get(sub.commit, 0) + 1
            if self.tries[sub.commit] >= UNDECIDED_LIMIT:
                why = f"ERROR {sub.task}: its batch failed {UNDECIDED_LIMIT} times without a reproducible culprit"
                self._refuse(sub, [why, *judgement.lines], counts=True)

    def _refuse(self, sub: Submission, lines: Sequence[str], counts: bool) -> None:
        kept = keep_refused(self.repo, sub)
        status = hand_back(self.repo, self.branch, sub, list(lines), self.settings.max_attempts, counts)
        drop_refs(self.repo, [sub])
        state = {"blocked": QueueState.BLOCKED, "fenced": QueueState.FENCED}.get(status, QueueState.REFUSED)
        self.journal.record([sub], state, reason=lines[0] if lines else "", kept_on=kept)
        self.say(f"ERROR {sub.task}: refused by the merge queue ({state}); work kept on {kept}")
        for line in lines[:10]:
            self.say(f"  {line}")

    def _sync_journal(self) -> None:
        self.journal.suite_runs = self.verifier.suite_runs
        self.journal.save()
