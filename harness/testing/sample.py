"""``--fast`` sampling: a test is in the sample iff hash(seed, test id) falls under F.

The hash is blake2b, not Python's ``hash`` (salted per process): the same seed gives
the same sample in every process and on every machine, so an agent compares like with
like across iterations, while agents with different seeds cover different tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from harness.errors import UsageError

MIN_FRACTION = 0.01
MAX_FRACTION = 0.10
_SCALE = float(1 << 64)


def point(seed: str, test_id: str) -> float:
    """Where ``test_id`` falls in [0, 1) for ``seed``."""
    digest = hashlib.blake2b(f"{seed}\0{test_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def check_fraction(fraction: float) -> float:
    if not MIN_FRACTION <= fraction <= MAX_FRACTION:
        raise UsageError(f"--fraction {fraction}: use a fraction from {MIN_FRACTION} to {MAX_FRACTION}")
    return fraction


def sample(ids: Sequence[str], seed: str, fraction: float, always: Iterable[str] = ()) -> list[str]:
    """The sampled ids in suite order, plus ``always`` (last run's failures) if present."""
    keep = set(always)
    return [tid for tid in ids if tid in keep or point(seed, tid) < fraction]
