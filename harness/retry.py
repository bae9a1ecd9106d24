"""The named tenacity policies. Every retry in harness uses one of these, so their
bounds are reviewed in one place.

- ``push_race``: a push rejected because someone else pushed first. The claimer
  re-fetches and rebuilds its commit; jittered exponential backoff spreads racers apart,
  and a deadline bounds the whole operation.
- ``upstream_network``: the upstream could not be reached. A few attempts with
  exponential backoff, then the error goes to the user (exit 1) with the local state intact.

``run(policy, fn)`` makes the first attempt without importing tenacity at all (~30 ms of
imports, a fifth of a CLI claim): the policy is only built once the first attempt failed
with the policy's retryable error.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from harness.errors import HarnessError, UpstreamUnreachable

if TYPE_CHECKING:
    from tenacity import Retrying

T = TypeVar("T")


class PushRaceLost(HarnessError):
    """Internal signal: the push was rejected as not a fast-forward; rebuild and retry."""


PUSH_RACE_DEADLINE_SECONDS = 180.0
NETWORK_ATTEMPTS = 4


@dataclass(frozen=True)
class Policy:
    name: str
    retry_on: type[BaseException]
    first_wait: Callable[[], float]  # pause between the untracked first attempt and the policy
    build: Callable[[], Retrying]  # the tenacity policy for the attempts after the first


def push_race(deadline: float = PUSH_RACE_DEADLINE_SECONDS) -> Policy:
    def build() -> Retrying:
        from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_random_exponential

        return Retrying(
            retry=retry_if_exception_type(PushRaceLost),
            wait=wait_random_exponential(multiplier=0.05, max=2.0),
            stop=stop_after_delay(deadline),
            reraise=True,
        )

    return Policy("push_race", PushRaceLost, lambda: random.uniform(0.0, 0.05), build)


def upstream_network(attempts: int = NETWORK_ATTEMPTS) -> Policy:
    def build() -> Retrying:
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

        return Retrying(
            retry=retry_if_exception_type(UpstreamUnreachable),
            wait=wait_exponential(multiplier=0.5, max=4.0),
            stop=stop_after_attempt(attempts - 1),  # the first attempt was made by run()
            reraise=True,
        )

    return Policy("upstream_network", UpstreamUnreachable, lambda: 0.25, build)


def run(policy: Policy, fn: Callable[[], T]) -> T:
    """Call ``fn`` under ``policy``: once directly, then under the tenacity policy if needed."""
    try:
        return fn()
    except policy.retry_on:
        pass
    time.sleep(policy.first_wait())
    return policy.build()(fn)
