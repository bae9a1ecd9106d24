"""Confirmation of a bisection's answer by fresh probes (the pure engine): a deterministic
probe pays at most k + 2 probes for it; a flaky probe never gets a wrong answer through
as "found"; a stale cache is caught; an answer the probes contradict is never reported."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable

import pytest

from harness.bisect import engine
from harness.bisect.confirm import Finding
from harness.bisect.run import information_bound
from harness.bisect.search import Round, SanityFailure, Verdict
from tests.test_bisect import found, instance, oracle


class Flaky:
    """A probe that fails spuriously: each probe it runs fails with probability ``rate``
    whatever the subset, drawn from a seeded generator, so every run is reproducible.
    (A flaky test in the suite the probe runs, say.)"""

    def __init__(self, groups: Iterable[frozenset[int]], rate: float, seed: int) -> None:
        self.truth = oracle(groups)
        self.rate = rate
        self.random = random.Random(f"flaky:{seed}")

    def __call__(self, subsets: Round) -> list[Verdict]:
        return [Verdict.BAD if self.random.random() < self.rate else v for v in self.truth(subsets)]


@pytest.mark.parametrize("jobs", [1, 3])
@pytest.mark.parametrize(("n", "pairs"), [(10, 0), (100, 0), (1000, 0), (100, 1), (1000, 2)])
def test_a_deterministic_probe_pays_at_most_k_plus_2_probes_for_confirmation(n: int, pairs: int, jobs: int) -> None:
    for k in range(max(1, 2 * pairs), 7):
        for seed in range(8):
            groups = instance(n, k, pairs, seed)
            outcome = engine.run(n, oracle(groups), jobs)
            assert outcome.status == "found" and found(outcome) == set(groups), (k, seed)
            assert outcome.confirmation_probes <= k + 2, (k, seed, outcome.confirmation_probes)
            assert not outcome.contradictions and not outcome.suspects


def test_every_culprit_is_probed_again_and_nothing_is_answered_from_knowledge() -> None:
    groups = [frozenset({4}), frozenset({30, 71})]
    fresh_log: list[frozenset[int]] = []
    outcome = engine.run(100, oracle(groups), fresh=oracle(groups, fresh_log))
    assert outcome.status == "found"
    sanity = [frozenset(), frozenset(range(100))]
    assert fresh_log[:2] == sanity
    assert frozenset({30, 71}) <= fresh_log[2]  # the failing set the pair was found in, probed again
    confirming = fresh_log[3:]
    assert confirming.count(frozenset({4})) == 1
    assert confirming.count(frozenset({30, 71})) == 1
    rest = frozenset(range(100)) - {4, 30, 71}
    assert rest | {30} in confirming and rest | {71} in confirming  # each member is needed
    assert len(confirming) == outcome.confirmation_probes <= 3 + 2


@pytest.mark.parametrize("rate", [0.02, 0.05])
@pytest.mark.parametrize(("k", "pairs"), [(1, 0), (3, 0), (5, 0), (3, 1), (5, 1)])
def test_a_flaky_probe_never_gets_a_wrong_answer_through_as_found(k: int, pairs: int, rate: float) -> None:
    n, statuses = 256, {"found": 0, "undecided": 0, "sanity": 0}
    for seed in range(150):
        groups = instance(n, k, pairs, seed)
        try:
            outcome = engine.run(n, Flaky(groups, rate, seed))
        except SanityFailure:
            statuses["sanity"] += 1  # the all-oracle build failed spuriously: no answer either
            continue
        statuses[outcome.status] += 1
        if outcome.status == "found":
            assert found(outcome) == set(groups), f"seed {seed}: a wrong answer reported as found"
        elif outcome.contradictions:
            assert outcome.culprits == []
    # Not vacuous: flaky runs both end in right answers and are caught.
    assert statuses["found"] > 0 and statuses["undecided"] > 0, statuses


def test_a_contradiction_lists_both_answers_of_the_same_subset() -> None:
    # One spurious failure, on the search's confirmation probe: the search then hunts for
    # units failing together and builds a group from a set that never really failed.
    truth = oracle([frozenset({7})])
    calls = 0

    def probe(subsets: Round) -> list[Verdict]:
        nonlocal calls
        answers = []
        for s in subsets:
            calls += 1
            answers.append(Verdict.BAD if 7 not in s and len(s) == 63 and calls < 40 else truth([s])[0])
        return answers

    outcome = engine.run(64, probe)
    assert outcome.status == "undecided" and outcome.nondeterministic
    assert outcome.culprits == [] and outcome.suspects
    (contradiction,) = outcome.contradictions
    assert contradiction.finding is Finding.NOT_DETERMINISTIC
    assert {o.verdict for o in contradiction.seen} == {Verdict.GOOD, Verdict.BAD}


def test_a_stale_cache_is_caught_by_the_fresh_confirmation() -> None:
    # The cache holds verdicts from before the candidate tool was fixed for unit 40.
    before, after = oracle([frozenset({3}), frozenset({40})]), oracle([frozenset({3})])
    outcome = engine.run(64, before, fresh=after, cached=lambda subset: True, retries=2)
    assert outcome.status == "undecided" and outcome.culprits == []
    (contradiction,) = outcome.contradictions
    assert contradiction.subset == frozenset({40}) and contradiction.finding is Finding.CACHE
    fresh = [o.verdict for o in contradiction.seen if o.fresh]
    assert fresh == [Verdict.GOOD] * 3  # the confirmation and two retries, all fresh


def test_a_cache_that_agrees_still_pays_for_fresh_confirmation() -> None:
    asked: list[frozenset[int]] = []
    truth = oracle([frozenset({3}), frozenset({40})])
    outcome = engine.run(64, truth, fresh=oracle([frozenset({3}), frozenset({40})], asked), cached=lambda s: True)
    assert outcome.status == "found" and found(outcome) == {frozenset({3}), frozenset({40})}
    assert frozenset({3}) in asked and frozenset({40}) in asked
    assert frozenset(range(64)) - {3, 40} in asked  # the rest was only ever cached: probed again


def test_a_failure_the_answer_does_not_explain_is_never_reported_as_found() -> None:
    # Unit 5 fails with 20 and with 50 (two groups sharing a member); a search that finds one
    # pair stops looking for 5's other partner, and the confirmation catches it every time.
    groups = [frozenset({5, 20}), frozenset({5, 50})]
    outcome = engine.run(64, oracle(groups))
    assert outcome.status == "undecided" and not outcome.nondeterministic
    assert {c.finding for c in outcome.contradictions} == {Finding.UNEXPLAINED}


def test_a_confirmation_that_cannot_tell_leaves_the_other_culprits_confirmed() -> None:
    truth = oracle([frozenset({3}), frozenset({40})])

    def fresh(subsets: Round) -> list[Verdict]:  # probed again, unit 40 alone cannot be judged
        return [Verdict.UNDECIDED if s == frozenset({40}) else v for s, v in zip(subsets, truth(subsets), strict=True)]

    outcome = engine.run(64, truth, fresh=fresh)
    assert outcome.status == "undecided"
    assert outcome.culprits == [(3,)] and outcome.suspects == [(40,)]
    assert [c.finding for c in outcome.contradictions] == [Finding.CANNOT_TELL]


def test_the_information_bound_counts_how_units_group() -> None:
    n = 1000
    assert information_bound(n, [(1,), (2,), (3,)]) == pytest.approx(math.log2(math.comb(n, 3)))
    assert information_bound(n, [(1, 2)]) == pytest.approx(math.log2(math.comb(n, 2)))
    # A single and a pair: which 3 units, and which of them is the single.
    assert information_bound(n, [(1,), (2, 3)]) == pytest.approx(math.log2(math.comb(n, 3) * 3))
    # Two pairs among 4 units can be formed 3 ways.
    assert information_bound(n, [(1, 2), (3, 4)]) == pytest.approx(math.log2(math.comb(n, 4) * 3))
