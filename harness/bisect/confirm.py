"""Confirming a bisection's answer with fresh probes before it is reported.

The search trusts every verdict it is given: one spurious failure sends it after a culprit
that is not there, and it comes back with an answer that explains the spurious failure.
So the answer is tested as a claim, with probes that are run again (never answered from
knowledge or from the cache). The answer is a list of groups (a unit, or units that fail
only together) and predicts: a subset fails iff it holds a whole group. The checks:

- each group fails;
- everything else passes, even with all but one member of each group added: probe ``i``
  leaves out every group's ``i``-th member (as many probes as the largest group; with no
  group, the rest alone, unless the search already passed it on a fresh probe). So each
  member is needed, and nothing else fails;
- **support**: a group is reported only when enough failing probes hold it and no other
  group, so that only it explains them (``SUPPORT``, ``GROUP_SUPPORT``). One spurious
  failure then never makes a culprit: it takes that many, on subsets holding the same
  innocent unit. A group short of support is probed again, the weakest first, while the
  budget lasts.

All of it costs at most k + 2 probes (k = units in the answer) when the probe is
deterministic. A check that comes out otherwise is a contradiction: the same subset is
probed again (``retries`` times, fewer once it has both passed and failed), and the run
ends undecided, never with an answer. Pure, like ``search``: a generator yields rounds
and receives verdicts. docs/bisect.md has the measured costs and what is left.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from enum import Enum

from harness.bisect.search import Round, Subset, Verdict

SUPPORT = 5  # failing probes that only a reported unit explains, counting its confirmation
GROUP_SUPPORT = 3  # for units failing together: probes of exactly the group, or of a failing set again

Group = tuple[int, ...]


@dataclass(frozen=True)
class Observation:
    subset: Subset
    verdict: Verdict
    fresh: bool = True  # False: answered from the cache of an earlier run
    again: bool = False  # a probe of a subset whose verdict was known: a confirmation or a recheck


@dataclass(frozen=True)
class Check:
    subset: Subset
    expected: Verdict


class Finding(Enum):
    NOT_DETERMINISTIC = "the probe is not deterministic"
    CACHE = "the cache disagrees with fresh probes"
    UNEXPLAINED = "a probe fails that the answer says passes, every time"
    CANNOT_TELL = "a confirmation probe could not tell"


@dataclass(frozen=True)
class Contradiction:
    subset: Subset
    expected: Verdict
    seen: tuple[Observation, ...]  # every answer for this subset, in the order they came
    finding: Finding


def plan(groups: Sequence[Group], rest: Sequence[int], log: Sequence[Observation] = ()) -> list[Check]:
    """The checks every answer gets: each group fails; the rest plus all but one member of
    each group passes (the rest alone, unless the search already passed it on a fresh probe)."""
    checks = [Check(frozenset(g), Verdict.BAD) for g in groups]
    together = [g for g in groups if len(g) > 1]
    if not together and Observation(frozenset(rest), Verdict.GOOD) in log:
        return checks
    for i in range(max((len(g) for g in together), default=1)):
        partial = {u for g in together for j, u in enumerate(g) if j != i % len(g)}
        checks.append(Check(frozenset(rest) | partial, Verdict.GOOD))
    return checks


def support(group: Group, groups: Sequence[Group], log: Sequence[Observation]) -> int:
    """Failing probes that hold ``group`` and no other group: only it explains them.

    For units failing together only probes of exactly the group, or probes of a known
    failing set again, count: the minimiser fitted the group to the failures it saw, so
    those are no evidence for it (one spurious failure would otherwise make a group as
    wide as the set that failed)."""
    mine, others = frozenset(group), [set(g) for g in groups if g != group]
    return sum(
        1
        for o in log
        if o.verdict is Verdict.BAD
        and mine <= o.subset
        and (len(mine) == 1 or o.subset == mine or o.again)
        and not any(g <= o.subset for g in others)
    )


def needed(group: Group) -> int:
    return SUPPORT if len(group) == 1 else GROUP_SUPPORT


def budget(groups: Sequence[Group]) -> int:
    """Fresh probes a deterministic probe spends on confirmation: at most k + 2."""
    return sum(len(g) for g in groups) + 2


def strengthen(groups: Sequence[Group], log: Sequence[Observation], spare: int) -> list[Check]:
    """Probe again the groups with too little support, the weakest first, within ``spare``."""
    need = {g: needed(g) - support(g, groups, log) for g in groups}
    checks: list[Check] = []
    while need and len(checks) < spare:
        weakest = max(need, key=lambda g: need[g])
        if need[weakest] <= 0:
            break
        checks.append(Check(frozenset(weakest), Verdict.BAD))
        need[weakest] -= 1
    return checks


Confirming = Generator[Round, list[Verdict], list[Contradiction]]


def confirm(groups: Sequence[Group], rest: Sequence[int], log: list[Observation], retries: int) -> Confirming:
    """Run the checks on fresh probes (appending to ``log``); return the contradictions."""
    checks = plan(groups, rest, log)
    wrong = yield from run_checks(checks, log)
    if not wrong:
        extra = strengthen(groups, log, budget(groups) - len(checks))
        wrong = (yield from run_checks(extra, log)) if extra else []
    return (yield from settle_each(wrong, log, retries))


def settle_each(checks: Sequence[Check], log: list[Observation], retries: int) -> Confirming:
    """The contradictions among checks that came out otherwise (see ``settle``)."""
    found: list[Contradiction] = []
    for check in dict.fromkeys(checks):
        contradiction = yield from settle(check, log, retries)
        if contradiction is not None:
            found.append(contradiction)
    return found


def run_checks(checks: list[Check], log: list[Observation]) -> Generator[Round, list[Verdict], list[Check]]:
    verdicts = yield [c.subset for c in checks]
    log.extend(Observation(c.subset, v, again=True) for c, v in zip(checks, verdicts, strict=True))
    return [c for c, v in zip(checks, verdicts, strict=True) if v is not c.expected]


def settle(check: Check, log: list[Observation], retries: int) -> Generator[Round, list[Verdict], Contradiction | None]:
    """Probe a contradicted subset again until it has both passed and failed, or ``retries``
    times; then say what the answers show (None: a check that could not tell at first
    came out as expected on every try after)."""
    for _ in range(retries):
        if flip_flops(check.subset, log):
            break
        (verdict,) = yield [check.subset]
        log.append(Observation(check.subset, verdict, again=True))
        if verdict is check.expected:  # both answers are in the log now, or it could not tell at first
            break
    seen = tuple(o for o in log if o.subset == check.subset)
    why = finding(check.expected, seen)
    return None if why is None else Contradiction(check.subset, check.expected, seen, why)


def flip_flops(subset: Subset, log: Sequence[Observation]) -> bool:
    answers = {o.verdict for o in log if o.subset == subset and o.fresh}
    return {Verdict.GOOD, Verdict.BAD} <= answers


def finding(expected: Verdict, seen: Sequence[Observation]) -> Finding | None:
    """What the answers for one subset show; None: every answer probed again agrees."""
    fresh = {o.verdict for o in seen if o.fresh} - {Verdict.UNDECIDED}
    if {Verdict.GOOD, Verdict.BAD} <= fresh:
        return Finding.NOT_DETERMINISTIC
    again = {o.verdict for o in seen if o.again} - {Verdict.UNDECIDED}
    if not again:
        return Finding.CANNOT_TELL
    if again == {expected}:  # it could not tell at first
        return None
    if any(not o.fresh and o.verdict is expected for o in seen):
        return Finding.CACHE
    return Finding.UNEXPLAINED
