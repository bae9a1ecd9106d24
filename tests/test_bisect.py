"""The pure bisection algorithm on generated instances: every culprit, nothing extra, and
probe counts near the information bound log2 C(n,k)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable

import pytest

from harness.bisect import engine
from harness.bisect import search as bisect
from harness.bisect.search import Round, Verdict

SANITY = 2  # the all-oracle and all-candidate probes every bisection starts with


def oracle(
    groups: Iterable[Iterable[int]], log: list[frozenset[int]] | None = None
) -> Callable[[Round], list[Verdict]]:
    """A monotone probe: a subset fails iff it holds every unit of some culprit group."""
    minimal = [frozenset(g) for g in groups]

    def probe(subsets: Round) -> list[Verdict]:
        if log is not None:
            log.extend(subsets)
        return [Verdict.BAD if any(g <= s for g in minimal) else Verdict.GOOD for s in subsets]

    return probe


def instance(n: int, k: int, pairs: int, seed: int) -> list[frozenset[int]]:
    units = random.Random(seed).sample(range(n), k)
    groups = [frozenset(units[2 * i : 2 * i + 2]) for i in range(pairs)]
    return groups + [frozenset([u]) for u in units[2 * pairs :]]


def bound(n: int, k: int) -> float:
    """The issue's budget: log2 C(n,k) + 2k + 2."""
    return math.log2(math.comb(n, k)) + 2 * k + 2


def found(outcome: engine.SearchResult) -> set[frozenset[int]]:
    return {frozenset(group) for group in outcome.culprits}


@pytest.mark.parametrize("n", [2, 10, 100, 1000, 2000])
@pytest.mark.parametrize("k", range(1, 9))
def test_every_single_culprit_found_near_the_information_bound(n: int, k: int) -> None:
    if k > n:
        pytest.skip("more culprits than units")
    seeds = range(12)
    costs = []
    for seed in seeds:
        groups = instance(n, k, 0, seed)
        outcome = engine.run(n, oracle(groups))
        assert found(outcome) == set(groups), f"seed {seed}"
        assert outcome.confirmed and not outcome.undecided
        costs.append(outcome.probes - SANITY)
    limit = bound(n, k)
    # On average the search is within the budget; no single instance strays far.
    assert sum(costs) / len(costs) <= limit, (costs, limit)
    assert max(costs) <= limit + 3, (costs, limit)


@pytest.mark.parametrize(("n", "k", "pairs"), [(2, 2, 1), (8, 2, 1), (100, 3, 1), (1000, 5, 2), (2000, 8, 2)])
def test_units_that_fail_only_together_are_reported_as_a_group(n: int, k: int, pairs: int) -> None:
    for seed in range(6):
        groups = instance(n, k, pairs, seed)
        outcome = engine.run(n, oracle(groups))
        assert found(outcome) == set(groups), f"seed {seed}"
        assert outcome.confirmed
        # A pair is found after a wrong turn of about log2 n probes, then two binary searches.
        assert outcome.probes - SANITY <= bound(n, k) + pairs * (math.log2(n) + 4)


def test_a_triple_is_minimised_to_exactly_its_three_units() -> None:
    groups = [frozenset({3, 40, 77})]
    outcome = engine.run(100, oracle(groups))
    assert found(outcome) == set(groups)


@pytest.mark.parametrize("k", [1, 3])
def test_four_jobs_need_far_fewer_rounds_with_at_most_four_probes_each(k: int) -> None:
    n = 1000
    serial = parallel = 0
    for seed in range(6):
        groups = instance(n, k, 0, seed)
        sizes: list[int] = []

        plain = oracle(groups)

        def probe(
            subsets: Round, sizes: list[int] = sizes, plain: Callable[[Round], list[Verdict]] = plain
        ) -> list[Verdict]:
            sizes.append(len(subsets))
            return plain(subsets)

        one = engine.run(n, oracle(groups), jobs=1)
        four = engine.run(n, probe, jobs=4)
        assert found(one) == found(four) == set(groups)
        assert max(sizes) <= 4
        serial += one.rounds - one.confirmation_rounds  # the search's rounds
        parallel += four.rounds - four.confirmation_rounds
    # (j+1)-way splits: log5 n rounds per culprit instead of log2 n, so well under 60%.
    assert parallel <= 0.6 * serial, (parallel, serial)


def test_known_answers_are_never_probed_again() -> None:
    log: list[frozenset[int]] = []
    groups = instance(500, 4, 0, 7)
    outcome = engine.run(500, oracle(groups, log), fresh=oracle(groups))
    # The sanity round goes to the fresh probe; everything else the search asks, once.
    assert len(log) == len(set(log)) == outcome.probes - SANITY
    # Nor are subsets of passing sets or supersets of failing ones.
    passed = [s for s in log if not any(g <= s for g in groups)]
    failed = [s for s in log if any(g <= s for g in groups)]
    for i, s in enumerate(log):
        assert not any(s < p for p in passed if log.index(p) < i)
        assert not any(f < s for f in failed if log.index(f) < i)


def test_a_unit_that_cannot_be_judged_is_reported_never_guessed() -> None:
    culprits = [frozenset({5}), frozenset({60})]
    murky = 33  # any build with unit 33 from the candidate cannot be judged (exit 125)

    def probe(subsets: Round) -> list[Verdict]:
        plain = oracle(culprits)(subsets)
        return [
            Verdict.UNDECIDED if murky in s and v is Verdict.GOOD else v for s, v in zip(subsets, plain, strict=True)
        ]

    outcome = engine.run(100, probe)
    assert found(outcome) == set(culprits)
    assert outcome.undecided == [murky]
    assert not outcome.confirmed


def test_big_builds_that_cannot_be_judged_are_split_until_they_can() -> None:
    culprits = [frozenset({17}), frozenset({170})]

    def probe(subsets: Round) -> list[Verdict]:
        plain = oracle(culprits)(subsets)
        return [Verdict.UNDECIDED if 30 < len(s) < 200 else v for s, v in zip(subsets, plain, strict=True)]

    outcome = engine.run(200, probe)
    assert found(outcome) == set(culprits)


def test_a_culprit_whose_own_probe_cannot_tell_is_undecided_not_reported() -> None:
    def probe(subsets: Round) -> list[Verdict]:
        return [Verdict.UNDECIDED if s == frozenset({9}) else oracle([{9}])([s])[0] for s in subsets]

    outcome = engine.run(16, probe)
    assert outcome.culprits == []
    assert outcome.undecided == [9]
    assert not outcome.confirmed


@pytest.mark.parametrize(
    ("groups", "empty", "full"),
    [([frozenset()], Verdict.BAD, Verdict.BAD), ([], Verdict.GOOD, Verdict.GOOD)],
)
def test_sanity_probes_must_come_out_good_then_bad(groups: list[frozenset[int]], empty: Verdict, full: Verdict) -> None:
    with pytest.raises(bisect.SanityFailure) as caught:
        engine.run(10, oracle(groups))
    assert (caught.value.empty, caught.value.full) == (empty, full)


def test_random_split_stays_inside_a_failing_part_of_its_own() -> None:
    groups = [frozenset({3}), frozenset({80})]
    first = list(range(0, 50))
    outcome = engine.run(100, oracle(groups), first=first)
    assert found(outcome) == {frozenset({3})}
    assert outcome.scoped and outcome.confirmed


def test_random_split_that_passes_searches_the_rest() -> None:
    groups = [frozenset({80}), frozenset({91})]
    outcome = engine.run(100, oracle(groups), first=list(range(0, 50)))
    assert found(outcome) == set(groups)
    assert not outcome.scoped


def test_split_makes_nearly_equal_blocks_in_order() -> None:
    assert bisect.split(list(range(7)), 3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert bisect.split([1, 2], 5) == [[1], [2]]
