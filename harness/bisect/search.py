"""Oracle bisection, the pure algorithm: which units make the build fail when taken from
the candidate tool instead of the oracle?

A *probe* of a subset S builds S with the candidate and the rest with the oracle. The
answer is monotone (a superset of a failing subset fails), so this is adaptive group
testing. The search is a generator that yields *rounds* (lists of subsets, probed in
parallel by the caller) and receives their verdicts; no clock, no randomness, no I/O, so
every run on the same answers asks the same questions.

Plan (docs/bisect.md has the reasoning and the measured costs):

1. sanity: the empty subset must pass, the full set must fail;
2. locate: split a failing set into ``jobs + 1`` blocks, probe ``jobs`` of them; a failing
   block is searched next and the unprobed block goes back to the pool; when every probed
   block passes, the unprobed one is *inferred* to fail (sound for single culprits) and a
   unit reached only by inference is probed alone before it is reported;
3. the pool of unknown units is tested in groups whose size adapts like Hwang's generalised
   binary splitting (double after a pass, halve after a failure), so k culprits among n cost
   about log2 C(n,k) + k probes without knowing k; "is anything left?" is asked with the
   confirmation probe itself (everything but the culprits);
4. a unit that passes alone although its inferred set failed, or a confirmation probe that
   still fails, means units that fail only together: a delta-debugging minimiser narrows
   the last failing set to a minimal failing group (a pair, usually).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Verdict(Enum):
    GOOD = "good"
    BAD = "bad"
    UNDECIDED = "undecided"  # exit 125, a crash or a timeout, even after repeats


Subset = frozenset[int]
Round = list[Subset]


class Recheck(list[Subset]):
    """A round to probe again although its verdicts are known (never from knowledge or a
    cache): a failure the search is about to build much on."""


Search = Generator[Round, list[Verdict], Any]


@dataclass
class State:
    n: int
    jobs: int
    pool: list[int] = field(default_factory=list)  # units whose status is unknown, in order
    failing: list[list[int]] = field(default_factory=list)  # probed-failing sets not yet searched
    culprits: list[tuple[int, ...]] = field(default_factory=list)
    undecided: set[int] = field(default_factory=set)
    group: int = 1  # current pool group size (adapts)
    confirmed: bool = False
    scoped: bool = False  # the search stayed inside the random-split subset
    scope: list[int] = field(default_factory=list)  # the units searched
    contradicted: list[Subset] = field(default_factory=list)  # failed, then passed when probed again

    def found(self) -> set[int]:
        return {u for group in self.culprits for u in group}

    def drop_from_pool(self, units: set[int]) -> None:
        self.pool = [u for u in self.pool if u not in units]


def split(units: Sequence[int], blocks: int) -> list[list[int]]:
    """``blocks`` contiguous, nearly equal blocks (the larger ones first)."""
    size, extra = divmod(len(units), blocks)
    out, start = [], 0
    for i in range(blocks):
        end = start + size + (1 if i < extra else 0)
        out.append(list(units[start:end]))
        start = end
    return [b for b in out if b]


def search(n: int, jobs: int = 1, first: Sequence[int] | None = None) -> Search:
    """The whole bisection over units 0..n-1; returns the final State.

    ``first`` is the random-split mode: that subset is probed before anything else and, when
    it fails, the search stays inside it (other agents take the rest).
    """
    st = State(n=n, jobs=max(1, jobs), group=max(1, n))
    everything = list(range(n))
    sanity = yield [frozenset(), frozenset(everything)]
    if sanity[0] is not Verdict.GOOD or sanity[1] is not Verdict.BAD:
        raise SanityFailure(sanity[0], sanity[1])
    scope = st.scope = everything
    if first is not None and 0 < len(first) < n:
        chosen = set(first)
        (verdict,) = yield [frozenset(chosen)]
        if verdict is Verdict.BAD:  # stay inside this agent's own part
            scope = st.scope = sorted(chosen)
            st.scoped = True
            st.failing.append(scope)
        elif verdict is Verdict.GOOD:  # the failure is in the rest (or spans both)
            yield from locate(st, [u for u in everything if u not in chosen], witness=everything)
        else:
            st.failing.append(everything)
    else:
        st.failing.append(everything)
    while not st.contradicted:
        if st.failing:
            yield from locate(st, st.failing.pop(0))
        elif st.pool and st.group < len(st.pool):
            yield from test_pool(st)
        elif not (yield from confirm(st, scope)):
            break
    return st


class SanityFailure(Exception):
    """The two sanity probes did not come out as (good, bad)."""

    def __init__(self, empty: Verdict, full: Verdict) -> None:
        super().__init__(f"empty subset: {empty.value}, full set: {full.value}")
        self.empty = empty
        self.full = full


def locate(st: State, failing: list[int], witness: list[int] | None = None) -> Search:
    """Narrow a failing set to one culprit (or hand it to the minimiser).

    ``witness`` is given when ``failing`` was inferred, not probed: the smallest probed
    failing set that contains it.
    """
    current, probed = failing, witness is None
    witness = failing if witness is None else witness
    while len(current) > 1:
        blocks = split(current, min(st.jobs + 1, len(current)))
        asked = blocks if len(current) <= st.jobs else blocks[:-1]
        rest = [] if len(current) <= st.jobs else blocks[-1]
        verdicts = yield [frozenset(b) for b in asked]
        bad = [b for b, v in zip(asked, verdicts, strict=True) if v is Verdict.BAD]
        unsure = [u for b, v in zip(asked, verdicts, strict=True) if v is Verdict.UNDECIDED for u in b]
        if bad:
            current, witness, probed = bad[0], bad[0], True
            st.failing.extend(bad[1:])
            st.pool.extend(unsure + rest)
            continue
        remaining = unsure + rest
        if not remaining:  # every block passes alone: units that fail only together
            yield from interaction(st, witness)
            return
        if len(remaining) == len(current):  # nothing decided: retry as smaller pool groups
            st.pool.extend(current)
            st.group = max(1, len(current) // (2 * len(asked) + 2))
            return
        current, probed = remaining, False  # inferred: the failure must be in what is left
    unit = current[0]
    if not probed:
        (verdict,) = yield [frozenset([unit])]
        if verdict is Verdict.UNDECIDED:
            st.undecided.add(unit)
            return
        if verdict is Verdict.GOOD:
            yield from interaction(st, witness)
            return
    st.culprits.append((unit,))
    st.group = group_after_culprit(st)


def group_after_culprit(st: State) -> int:
    """Pool group size once another culprit is found. After the first, guess none are left
    (the confirmation probe asks); after more, size groups to hold about one culprit each,
    as Hwang's generalised binary splitting does when it knows how many remain."""
    if len(st.culprits) <= 1:
        return max(1, len(st.pool))
    return pool_group(st)


def expected_left(st: State) -> float:
    """How many culprits the pool probably still holds: the density seen so far, capped at
    twice the number found (the pool holds untested halves, so the density overshoots)."""
    found = len(st.culprits)
    resolved = max(1, st.n - len(st.pool))
    return max(1.0, min(2.0 * found, found * len(st.pool) / resolved))


def pool_group(st: State) -> int:
    """The largest power of two not above pool size / expected culprits (Hwang's 2^alpha)."""
    size = max(1, int(len(st.pool) / expected_left(st)))
    return 1 << (size.bit_length() - 1)


def test_pool(st: State) -> Search:
    """Probe up to ``jobs`` groups of the pool; passing groups are cleared."""
    groups = [st.pool[i * st.group : (i + 1) * st.group] for i in range(st.jobs)]
    groups = [g for g in groups if g]
    verdicts = yield [frozenset(g) for g in groups]
    taken = {u for g in groups for u in g}
    st.pool = [u for u in st.pool if u not in taken]
    grow = True
    for g, verdict in zip(groups, verdicts, strict=True):
        if verdict is Verdict.BAD:
            st.failing.append(g)
            grow = False
        elif verdict is Verdict.UNDECIDED:
            if len(g) == 1:
                st.undecided.update(g)
            else:  # retry as smaller groups: a different subset may build
                st.pool.extend(g)
                st.group = max(1, len(g) // 2)
                grow = False
    if grow:
        st.group *= 2


def confirm(st: State, scope: list[int]) -> Generator[Round, list[Verdict], bool]:
    """Probe everything in scope but the culprits: passing ends the search (True = go on)."""
    found = st.found()
    rest = [u for u in scope if u not in found and u not in st.undecided]
    if not rest:
        st.confirmed = not st.undecided
        return False
    (verdict,) = yield [frozenset(rest)]
    if verdict is Verdict.GOOD:
        st.confirmed = not st.undecided
        return False
    if verdict is Verdict.UNDECIDED:
        if len(st.pool) > 1:  # cannot ask all at once: test the pool in smaller groups
            st.group = max(1, len(st.pool) // 2)
            return True
        st.undecided.update(st.pool)
        st.pool = []
        return False
    if st.pool and pool_group(st) < len(st.pool):  # several left, probably: test in groups
        st.group = pool_group(st)
        return True
    if st.pool:  # the failure is in the pool, or the pool fails together with cleared units
        pool, st.pool = st.pool, []
        yield from locate(st, pool, witness=rest)
        return True
    yield from interaction(st, rest)
    return True


def interaction(st: State, witness: list[int]) -> Search:
    """A failing set none of whose parts explains the failure alone: minimise it.

    It is first probed again: one spurious failure of a set that really passes looks just
    like this (every part passes), and the minimiser would make a group of it."""
    (again,) = yield Recheck([frozenset(witness)])
    if again is Verdict.GOOD:
        st.contradicted.append(frozenset(witness))
        return
    try:
        group = yield from minimise(witness)
    except _Undecided:
        st.undecided.update(u for u in witness if u not in st.found())
        st.drop_from_pool(set(witness))
        return
    st.culprits.append(tuple(sorted(group)))
    st.drop_from_pool(set(group))


class _Undecided(Exception):
    pass


def minimise(failing: list[int]) -> Generator[Round, list[Verdict], list[int]]:
    """A minimal failing subset of ``failing`` (which fails): delta debugging by prefixes.

    Find the shortest failing prefix ``candidates[:m] + fixed``; its last unit is needed,
    so it joins ``fixed`` and the search repeats on the shorter prefix until ``fixed`` fails
    alone. Each member costs one binary search (about log2 len(failing) probes), where
    classic ddmin needs up to quadratically many for a pair spread over two halves.
    """
    fixed: list[int] = []
    candidates = list(failing)
    while True:
        if fixed:
            (verdict,) = yield [frozenset(fixed)]
            if verdict is Verdict.BAD:
                return fixed
            if verdict is Verdict.UNDECIDED:
                raise _Undecided
        lo, hi = 0, len(candidates)  # candidates[:lo] + fixed passes, candidates[:hi] + fixed fails
        while hi - lo > 1:
            mid = (lo + hi) // 2
            (verdict,) = yield [frozenset(candidates[:mid] + fixed)]
            if verdict is Verdict.UNDECIDED:
                raise _Undecided
            if verdict is Verdict.BAD:
                hi = mid
            else:
                lo = mid
        fixed.append(candidates[hi - 1])
        candidates = candidates[: hi - 1]
        if not candidates:
            return fixed
