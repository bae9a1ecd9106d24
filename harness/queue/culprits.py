"""Splitting a red batch: which submissions break it?

The batch's members are the units of the bisection engine's adaptive group testing
(harness/bisect/search.py, driven by engine.py): a probe of a subset applies those members onto the batch's base
and runs the verifier. "Does it fail?" is monotone in practice (more changes, more ways to
break), so k culprits among n cost about log2 C(n, k) + k suite runs, several at once. The
search's confirmation probe is "everything but the culprits": when it passes, that build is
landed as is, without another run.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

from harness.bisect.engine import run
from harness.bisect.search import Round, SanityFailure, Verdict
from harness.queue.batch import Batch, build
from harness.queue.submission import Submission
from harness.queue.verify import Judgement, open_upstream

Judge = Callable[[str, str, str], Judgement]


@dataclass
class Split:
    culprits: dict[str, tuple[Submission, tuple[str, ...]]] = field(default_factory=dict)  # task -> (sub, lines)
    good: Batch | None = None  # the confirmed-green build of the others, ready to land
    undecided: list[Submission] = field(default_factory=list)  # back to the queue
    probes: int = 0


def split_batch(
    upstream: Path, main_ref: str, red: Batch, lines: tuple[str, ...], judge: Judge, pool: Executor, jobs: int
) -> Split:
    members = list(red.members)
    role = members[0].role
    full = frozenset(range(len(members)))
    builds: dict[frozenset[int], Batch] = {full: red}
    failures: dict[frozenset[int], tuple[str, ...]] = {full: lines}

    def probe_one(subset: frozenset[int]) -> Verdict:
        if not subset:
            return Verdict.GOOD  # the base itself: main, green by construction
        if subset == full:
            return Verdict.BAD
        repo = open_upstream(upstream)
        tip = repo.rev_parse(main_ref)
        batch = build(repo, red.base, [members[i] for i in sorted(subset)], check_locks_at=tip)
        builds[subset] = batch
        if batch.rejected:
            failures[subset] = tuple(reason for _, reason in batch.rejected.values())
            return Verdict.BAD
        verdict = judge(batch.base, batch.head, role)
        if not verdict.ok:
            failures[subset] = verdict.lines
        return Verdict.GOOD if verdict.ok else Verdict.BAD

    def probe(round_: Round) -> list[Verdict]:
        return list(pool.map(probe_one, round_))

    result = Split()
    try:
        outcome = run(len(members), probe, jobs=max(1, jobs))
    except SanityFailure:
        # The whole batch passed when probed again: a flaky failure. Nothing is refused;
        # every member goes back to the queue and is tested again.
        result.undecided = members
        return result
    result.probes = outcome.probes + outcome.confirmation_probes  # suite runs, the culprits' second look included
    blamed = sorted({unit for group in outcome.culprits for unit in group})
    for unit in blamed:
        smallest = min((s for s in failures if unit in s), key=len)
        result.culprits[members[unit].task] = (members[unit], failures[smallest])
    rest = frozenset(range(len(members))) - set(blamed) - set(outcome.undecided)
    result.undecided = [members[i] for i in outcome.undecided]
    if outcome.confirmed and rest and rest in builds and not builds[rest].rejected:
        result.good = builds[rest]
    else:
        result.undecided += [members[i] for i in sorted(rest)]
    return result
