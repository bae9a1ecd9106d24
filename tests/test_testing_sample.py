"""--fast sampling: deterministic per seed, different across agents, the right size."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.errors import UsageError
from harness.testing.sample import check_fraction, sample

SUITE = [f"tests/case_{i:05d}.c" for i in range(20_000)]


def test_same_seed_gives_the_same_sample_in_another_process() -> None:
    here = sample(SUITE[:2000], "core-dev-03", 0.05)
    code = (
        "from harness.testing.sample import sample;"
        "print('\\n'.join(sample([f'tests/case_{i:05d}.c' for i in range(2000)], 'core-dev-03', 0.05)))"
    )
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert here == there
    assert here  # a sample of 2,000 at 5% is never empty


def test_different_agents_get_different_samples() -> None:
    a = set(sample(SUITE, "core-dev-01", 0.05))
    b = set(sample(SUITE, "core-dev-02", 0.05))
    # Independent 5% samples of 20,000 overlap in about 50 tests, not 1,000.
    assert len(a & b) < 150


@pytest.mark.parametrize("fraction", [0.01, 0.05, 0.10])
def test_fraction_holds_within_statistical_bounds(fraction: float) -> None:
    n = len(SUITE)
    expected = n * fraction
    sd = (n * fraction * (1 - fraction)) ** 0.5
    for seed in ("core-dev-01", "perf-01", "x"):
        size = len(sample(SUITE, seed, fraction))
        assert abs(size - expected) < 5 * sd, (seed, size, expected)


def test_union_over_the_fleet_covers_the_suite() -> None:
    suite = SUITE[:300]
    covered: set[str] = set()
    for i in range(200):
        covered |= set(sample(suite, f"core-dev-{i:02d}", 0.10))
    assert covered == set(suite)


def test_always_included_tests_join_the_sample_in_suite_order() -> None:
    base = sample(SUITE[:1000], "a", 0.01)
    outside = next(t for t in SUITE[:1000] if t not in base)
    with_failure = sample(SUITE[:1000], "a", 0.01, always=[outside])
    assert set(with_failure) == {*base, outside}
    assert with_failure == [t for t in SUITE[:1000] if t in set(with_failure)]


@pytest.mark.parametrize("bad", [0.0, 0.005, 0.2, 1.0])
def test_fraction_outside_one_to_ten_percent_is_a_usage_error(bad: float) -> None:
    with pytest.raises(UsageError, match=r"0\.01 to 0\.1"):
        check_fraction(bad)
