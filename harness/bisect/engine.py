"""Drives the pure search and then the confirmation of its answer: answers the search's
rounds from what monotonicity already decides and asks the probe for the rest; sends the
confirmation's rounds to fresh probes only; counts probes and rounds. No clock, no
randomness, no I/O."""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from harness.bisect.confirm import Check, Confirming, Contradiction, Finding, Group, Observation, confirm, settle_each
from harness.bisect.search import Recheck, Round, Search, State, Subset, Verdict, search

Probe = Callable[[Round], list[Verdict]]
T = TypeVar("T")


class Knowledge:
    """Every verdict so far, plus what monotonicity implies: a subset of a passing set
    passes and a superset of a failing set fails — those are never probed."""

    def __init__(self) -> None:
        self.verdicts: dict[Subset, Verdict] = {}
        self._good: list[Subset] = []
        self._bad: list[Subset] = []

    def known(self, subset: Subset) -> Verdict | None:
        if subset in self.verdicts:
            return self.verdicts[subset]
        if any(subset <= good for good in self._good):
            return Verdict.GOOD
        if any(bad <= subset for bad in self._bad):
            return Verdict.BAD
        return None

    def record(self, subset: Subset, verdict: Verdict) -> None:
        self.verdicts[subset] = verdict
        if verdict is Verdict.GOOD:
            self._good.append(subset)
        elif verdict is Verdict.BAD:
            self._bad.append(subset)


@dataclass(frozen=True)
class SearchResult:
    culprits: list[Group]  # confirmed by fresh probes: each a unit, or units that fail only together
    undecided: list[int]  # units the probe could not judge
    confirmed: bool  # "found": culprits confirmed, nothing undecided, no contradiction
    probes: int  # asked during the search (a cache may have answered some)
    rounds: int
    scoped: bool = False
    confirmation_probes: int = 0  # fresh probes spent confirming the answer
    confirmation_rounds: int = 0
    suspects: list[Group] = field(default_factory=list)  # the search's answer, where confirmation failed
    contradictions: list[Contradiction] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "found" if self.confirmed else "undecided"

    @property
    def nondeterministic(self) -> bool:
        return any(c.finding is Finding.NOT_DETERMINISTIC for c in self.contradictions)


@dataclass
class Asker:
    """Answers rounds: the search's from knowledge or ``probe``, the confirmation's from
    ``fresh`` (never knowledge, never a cache), in rounds of at most ``jobs``."""

    probe: Probe
    fresh: Probe
    cached: Callable[[Subset], bool]
    jobs: int
    knowledge: Knowledge = field(default_factory=Knowledge)
    log: list[Observation] = field(default_factory=list)
    probes: int = 0
    rounds: int = 0
    confirmation_probes: int = 0
    confirmation_rounds: int = 0

    def search(self, gen: Search) -> State:
        def answer(asked: Round) -> list[Verdict]:
            if isinstance(asked, Recheck):
                got = self.fresh(asked)
                self.rounds += 1
                self.probes += len(asked)
                self.log.extend(Observation(s, v, again=True) for s, v in zip(asked, got, strict=True))
                return got
            new = list(dict.fromkeys(s for s in asked if self.knowledge.known(s) is None))
            if new:
                # The sanity round goes to fresh probes: a cached answer never decides a sanity failure.
                sanity = self.rounds == 0
                got = (self.fresh if sanity else self.probe)(new)
                self.rounds += 1
                self.probes += len(new)
                for subset, verdict in zip(new, got, strict=True):
                    self.knowledge.record(subset, verdict)
                    self.log.append(Observation(subset, verdict, fresh=sanity or not self.cached(subset)))
            return [self.knowledge.known(s) or Verdict.UNDECIDED for s in asked]

        state: State = drive(gen, answer)
        return state

    def confirm(self, gen: Confirming) -> list[Contradiction]:
        def answer(asked: Round) -> list[Verdict]:
            got: list[Verdict] = []
            for start in range(0, len(asked), self.jobs):
                chunk = asked[start : start + self.jobs]
                got.extend(self.fresh(chunk))
                self.rounds += 1
                self.confirmation_rounds += 1
                self.confirmation_probes += len(chunk)
            return got

        return drive(gen, answer)


def drive(gen: Generator[Round, list[Verdict], T], answer: Callable[[Round], list[Verdict]]) -> T:
    reply: list[Verdict] | None = None
    while True:
        try:
            asked = gen.send(reply) if reply is not None else next(gen)
        except StopIteration as stop:
            result: T = stop.value
            return result
        reply = answer(asked)


def run(
    n: int,
    probe: Probe,
    jobs: int = 1,
    first: Sequence[int] | None = None,
    *,
    fresh: Probe | None = None,
    cached: Callable[[Subset], bool] | None = None,
    retries: int = 2,
) -> SearchResult:
    """Search, then confirm the answer with fresh probes.

    ``probe`` receives one round (at most ``jobs`` subsets, or two for the sanity round)
    and returns their verdicts in order; ``probes`` counts what the search asked. ``fresh``
    (default: ``probe``) must really run the probe: it gets the sanity round and every
    confirmation probe. ``cached`` says whether ``probe`` answered a subset from a cache.
    """
    asker = Asker(probe, fresh or probe, cached or (lambda _: False), max(1, jobs))
    st = asker.search(search(n, jobs, first))
    found = st.found()
    rest = [u for u in st.scope if u not in found and u not in st.undecided]
    groups = list(st.culprits)
    if st.contradicted:  # the search stopped: a failure it was building on did not fail again
        rechecks = [Check(subset, Verdict.BAD) for subset in st.contradicted]
        contradictions = asker.confirm(settle_each(rechecks, asker.log, retries))
    elif groups:
        contradictions = asker.confirm(confirm(groups, rest, asker.log, retries))
    else:
        contradictions = []
    culprits, suspects = ([], groups) if st.contradicted else sort_out(groups, contradictions)
    return SearchResult(
        culprits=culprits,
        undecided=sorted(st.undecided),
        confirmed=bool(culprits) and not contradictions and not st.undecided,
        probes=asker.probes,
        rounds=asker.rounds,
        scoped=st.scoped,
        confirmation_probes=asker.confirmation_probes,
        confirmation_rounds=asker.confirmation_rounds,
        suspects=suspects,
        contradictions=contradictions,
    )


def sort_out(groups: list[Group], contradictions: list[Contradiction]) -> tuple[list[Group], list[Group]]:
    """Confirmed culprits and unconfirmed suspects. After a real contradiction nothing the
    search found is trusted; a check that only could not tell leaves the others confirmed."""
    if any(c.finding is not Finding.CANNOT_TELL for c in contradictions):
        return [], groups
    unsure = {c.subset for c in contradictions}
    return [g for g in groups if frozenset(g) not in unsure], [g for g in groups if frozenset(g) in unsure]
