"""Drives the pure search: answers each round from what monotonicity already decides, asks
the probe for the rest, and counts probes and rounds. No clock, no randomness, no I/O."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.bisect.search import Round, State, Subset, Verdict, search


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
    culprits: list[tuple[int, ...]]  # each a unit, or units that fail only together
    undecided: list[int]
    confirmed: bool
    probes: int
    rounds: int
    scoped: bool = False


def run(
    n: int,
    probe: Callable[[Round], list[Verdict]],
    jobs: int = 1,
    first: Sequence[int] | None = None,
    on_round: Callable[[int, int], None] | None = None,
) -> SearchResult:
    """Drive ``search``: answer from knowledge when monotonicity allows, else ``probe``.

    ``probe`` receives one round (at most ``jobs`` subsets, or two for the sanity round)
    and returns their verdicts in order; ``probes`` counts what it was asked.
    """
    knowledge = Knowledge()
    gen = search(n, jobs, first)
    probes = rounds = 0
    answer: list[Verdict] | None = None
    while True:
        try:
            asked = gen.send(answer) if answer is not None else next(gen)
        except StopIteration as stop:
            st: State = stop.value
            break
        answer = [knowledge.known(s) or Verdict.UNDECIDED for s in asked]
        fresh = list(dict.fromkeys(s for s in asked if knowledge.known(s) is None))
        if fresh:
            got = probe(fresh)
            rounds += 1
            probes += len(fresh)
            for subset, verdict in zip(fresh, got, strict=True):
                knowledge.record(subset, verdict)
            answer = [knowledge.known(s) or Verdict.UNDECIDED for s in asked]
            if on_round is not None:
                on_round(rounds, probes)
    return SearchResult(
        culprits=st.culprits,
        undecided=sorted(st.undecided),
        confirmed=st.confirmed,
        probes=probes,
        rounds=rounds,
        scoped=st.scoped,
    )
