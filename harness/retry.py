"""The named tenacity policies. Every retry in harness uses one of these, so their
bounds are reviewed in one place.

- ``push_race``: a push rejected because someone else pushed first. The claimer
  re-fetches and rebuilds its commit; jittered exponential backoff spreads racers apart,
  and a deadline bounds the whole claim.
- ``upstream_network``: the upstream could not be reached. A few attempts with
  exponential backoff, then the error goes to the user (exit 1) with the local state intact.
"""

from __future__ import annotations

from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
    wait_random_exponential,
)

from harness.errors import HarnessError, UpstreamUnreachable


class PushRaceLost(HarnessError):
    """Internal signal: the push was rejected as not a fast-forward; rebuild and retry."""


PUSH_RACE_DEADLINE_SECONDS = 180.0
NETWORK_ATTEMPTS = 4


def push_race(deadline: float = PUSH_RACE_DEADLINE_SECONDS) -> Retrying:
    return Retrying(
        retry=retry_if_exception_type(PushRaceLost),
        wait=wait_random_exponential(multiplier=0.05, max=2.0),
        stop=stop_after_delay(deadline),
        reraise=True,
    )


def upstream_network(attempts: int = NETWORK_ATTEMPTS) -> Retrying:
    return Retrying(
        retry=retry_if_exception_type(UpstreamUnreachable),
        wait=wait_exponential(multiplier=0.25, max=4.0),
        stop=stop_after_attempt(attempts),
        reraise=True,
    )
