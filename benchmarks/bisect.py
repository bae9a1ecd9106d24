"""Oracle bisection: probes used against the information bound, and -j 2 against -j 1.

    .venv/bin/python benchmarks/bisect.py [--seeds 30] [--sleep 0.2]

Part 1 runs the pure search on generated instances (n = 1,000; k = 1, 3, 5 single
culprits; a monotone simulated probe) and prints probes over log2 C(n,k). Part 2 runs the
real ``harness bisect`` command on a probe that sleeps, with -j 1 and -j 2, and prints the
wall-time ratio and the rounds.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, where this file would
# shadow the standard library's bisect module (which random imports).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from harness.bisect import engine  # noqa: E402
from harness.bisect.search import Round, Verdict  # noqa: E402

SANITY = 2


def simulate(n: int, k: int, seed: int, jobs: int = 1) -> engine.SearchResult:
    culprits = set(random.Random(seed).sample(range(n), k))

    def probe(subsets: Round) -> list[Verdict]:
        return [Verdict.BAD if culprits & s else Verdict.GOOD for s in subsets]

    outcome = engine.run(n, probe, jobs=jobs)
    assert {g[0] for g in outcome.culprits} == culprits and outcome.confirmed
    return outcome


def probes_over_bound(seeds: int) -> None:
    n = 1000
    print(f"probes over the information bound log2 C(n,k), n = {n}, {seeds} random instances each")
    print(
        f"{'k':>3} {'log2C':>7} {'mean':>7} {'max':>5} {'mean-log2C':>11} {'(minus 2 sanity)':>17} {'budget +2k+2':>13}"
    )
    for k in (1, 3, 5):
        info = math.log2(math.comb(n, k))
        probes = [simulate(n, k, seed).probes for seed in range(seeds)]
        mean = sum(probes) / len(probes)
        print(
            f"{k:>3} {info:7.1f} {mean:7.1f} {max(probes):5d} {mean - info:+11.1f} "
            f"{mean - SANITY - info:+17.1f} {2 * k + 2:>13d}"
        )
    print("rounds with -j 4 against -j 1 (same instances):")
    for k in (1, 3, 5):
        one = [simulate(n, k, seed, 1) for seed in range(seeds)]
        four = [simulate(n, k, seed, 4) for seed in range(seeds)]
        r1 = sum(o.rounds for o in one) / seeds
        r4 = sum(o.rounds for o in four) / seeds
        p4 = sum(o.probes for o in four) / seeds
        print(f"  k={k}: rounds {r1:5.1f} -> {r4:5.1f} (x{r1 / r4:.2f} fewer), probes {p4:5.1f} with -j 4")


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
    parser.add_argument("--sleep", type=float, default=0.2)
    args = parser.parse_args()
    probes_over_bound(args.seeds)
    print()
    wall_time(args.sleep)


if __name__ == "__main__":
    main()
