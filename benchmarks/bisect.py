"""Oracle bisection: probes used against the information bound, the probes spent on
confirmation beside the search's, a flaky probe, and -j 2 against -j 1.

    .venv/bin/python benchmarks/bisect.py [--seeds 30] [--flaky-seeds 300] [--rate 0.05] [--sleep 0.2]

Part 1 runs the pure search on generated instances (n = 1,000; k = 1, 3, 5 single
culprits, and k = 5 with one pair; a monotone simulated probe) and prints the search's
probes over log2 C(n,k) and the fresh probes confirming the answer (at most k + 2).
Part 2 gives the same instances a probe that fails spuriously at ``--rate`` and counts
answers reported as found that are wrong, against what the search alone would answer.
Part 3 runs the real ``harness bisect`` command on a probe that sleeps, with -j 1 and
-j 2, and prints the wall-time ratio and the rounds.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, where this file would
# shadow the standard library's bisect module (which random imports).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

from harness.bisect import engine  # noqa: E402
from harness.bisect.run import information_bound  # noqa: E402
from harness.bisect.search import Round, SanityFailure, Verdict  # noqa: E402

SANITY = 2


def instance(n: int, k: int, pairs: int, seed: int) -> list[frozenset[int]]:
    units = random.Random(seed).sample(range(n), k)
    return [frozenset(units[2 * i : 2 * i + 2]) for i in range(pairs)] + [frozenset([u]) for u in units[2 * pairs :]]


def truthful(groups: list[frozenset[int]]) -> Callable[[Round], list[Verdict]]:
    def probe(subsets: Round) -> list[Verdict]:
        return [Verdict.BAD if any(g <= s for g in groups) else Verdict.GOOD for s in subsets]

    return probe


def flaky(groups: list[frozenset[int]], rate: float, seed: int) -> Callable[[Round], list[Verdict]]:
    """Fails spuriously at ``rate`` whatever the subset (a flaky test in the probe's suite)."""
    draw, truth = random.Random(f"flaky:{seed}"), truthful(groups)

    def probe(subsets: Round) -> list[Verdict]:
        return [Verdict.BAD if draw.random() < rate else v for v in truth(subsets)]

    return probe


def simulate(n: int, k: int, seed: int, jobs: int = 1, pairs: int = 0) -> engine.SearchResult:
    groups = instance(n, k, pairs, seed)
    outcome = engine.run(n, truthful(groups), jobs=jobs)
    assert {frozenset(g) for g in outcome.culprits} == set(groups) and outcome.confirmed
    return outcome


CASES = ((1, 0), (3, 0), (5, 0), (5, 1))  # (k units, of which in pairs)


def probes_over_bound(seeds: int) -> None:
    n = 1000
    print(f"probes over the information bound, n = {n}, {seeds} random instances each (a deterministic probe)")
    print(
        f"{'k':>7} {'bound':>6} {'search':>7} {'max':>4} {'-bound':>7} {'(minus 2 sanity)':>17} "
        f"{'confirm':>8} {'max':>4} {'k+2':>4}"
    )
    for k, pairs in CASES:
        groups = [tuple(sorted(g)) for g in instance(n, k, pairs, 0)]
        info = information_bound(n, groups)
        outcomes = [simulate(n, k, seed, pairs=pairs) for seed in range(seeds)]
        search = [o.probes for o in outcomes]
        confirm = [o.confirmation_probes for o in outcomes]
        mean = sum(search) / len(search)
        label = f"{k}" + (f" ({pairs}p)" if pairs else "")
        print(
            f"{label:>7} {info:6.1f} {mean:7.1f} {max(search):4d} {mean - info:+7.1f} {mean - SANITY - info:+17.1f} "
            f"{sum(confirm) / len(confirm):8.1f} {max(confirm):4d} {k + 2:4d}"
        )
    print("rounds with -j 4 against -j 1 (same instances, confirmation included):")
    for k in (1, 3, 5):
        one = [simulate(n, k, seed, 1) for seed in range(seeds)]
        four = [simulate(n, k, seed, 4) for seed in range(seeds)]
        r1 = sum(o.rounds for o in one) / seeds
        r4 = sum(o.rounds for o in four) / seeds
        p4 = sum(o.probes + o.confirmation_probes for o in four) / seeds
        print(f"  k={k}: rounds {r1:5.1f} -> {r4:5.1f} (x{r1 / r4:.2f} fewer), probes {p4:5.1f} with -j 4")


def flaky_probe(seeds: int, rate: float) -> None:
    n = 1000
    print(f"a probe failing spuriously {rate:.0%} of the time, n = {n}, {seeds} runs each:")
    head = f"{'k':>7} {'found':>6} {'wrong':>6} {'undecided':>10} {'sanity':>7}"
    print(f"{head} {'search alone wrong':>19} {'confirm':>8}")
    for k, pairs in CASES:
        counts = {"right": 0, "wrong": 0, "undecided": 0, "sanity": 0}
        alone_wrong = confirm = 0
        for seed in range(seeds):
            groups = set(instance(n, k, pairs, seed))
            try:
                outcome = engine.run(n, flaky(list(groups), rate, seed))
            except SanityFailure:
                counts["sanity"] += 1
                continue
            confirm += outcome.confirmation_probes
            answer = {frozenset(g) for g in outcome.culprits + outcome.suspects}
            alone_wrong += answer != groups  # what the search would have reported unconfirmed
            if outcome.status != "found":
                counts["undecided"] += 1
            else:
                counts["right" if {frozenset(g) for g in outcome.culprits} == groups else "wrong"] += 1
        runs = seeds - counts["sanity"]
        label = f"{k}" + (f" ({pairs}p)" if pairs else "")
        print(
            f"{label:>7} {counts['right'] + counts['wrong']:6d} {counts['wrong']:6d} {counts['undecided']:10d} "
            f"{counts['sanity']:7d} {alone_wrong / max(1, runs):19.0%} {confirm / max(1, runs):8.1f}"
        )
    print("  (wrong = a wrong answer reported as found; search alone = its answer, unconfirmed, is wrong)")


def wall_time(sleep: float) -> None:
    n = 64
    with tempfile.TemporaryDirectory() as tmp:
        units = Path(tmp) / "units.txt"
        units.write_text("".join(f"u{i}.c\n" for i in range(n)))
        probe = f'sleep {sleep}; ! grep -qx -e u5.c -e u40.c "$HARNESS_BISECT_CANDIDATE"'
        results = {}
        for jobs in (1, 2):
            started = time.monotonic()
            proc = subprocess.run(
                [sys.executable, "-m", "harness", "bisect", "--units", str(units), "--probe", probe,
                 "-j", str(jobs), "--json", "--quiet"],
                capture_output=True, text=True, check=True, cwd=tmp,
            )  # fmt: skip
            data = json.loads(proc.stdout)
            results[jobs] = (time.monotonic() - started, data["rounds"], data["probes"])
    (t1, r1, p1), (t2, r2, p2) = results[1], results[2]
    print(f"wall time on a probe sleeping {sleep}s, n = {n}, k = 2:")
    print(f"  -j 1: {t1:6.2f}s  {r1} rounds  {p1} probes")
    print(f"  -j 2: {t2:6.2f}s  {r2} rounds  {p2} probes")
    print(f"  -j 2 / -j 1 wall time: {t2 / t1:.2f}  (rounds ratio {r2 / r1:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--flaky-seeds", type=int, default=300)
    parser.add_argument("--rate", type=float, default=0.05)
    parser.add_argument("--sleep", type=float, default=0.2)
    args = parser.parse_args()
    probes_over_bound(args.seeds)
    print()
    flaky_probe(args.flaky_seeds, args.rate)
    print()
    wall_time(args.sleep)


if __name__ == "__main__":
    main()
