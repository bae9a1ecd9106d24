"""How long a loop waits after a session that did nothing (docs/loop.md, "Idle loops")."""

from __future__ import annotations

from harness.loop.config import LoopSettings
from harness.loop.events import IterationEvent, IterationOutcome


class Futile:
    """The wait after a session that made no commit (nothing done: a backend that fails at
    once, an open-mode agent that finds nothing to do): ``idle_backoff_seconds``, doubling
    up to ``idle_backoff_max_seconds`` while sessions keep doing nothing, less the time the
    iteration itself took; back to nothing after a session that commits. A paid backend
    must not be started dozens of times a minute for nothing."""

    def __init__(self, settings: LoopSettings) -> None:
        self.settings = settings
        self.wait = 0.0

    def after(self, event: IterationEvent, committed: bool) -> float:
        if committed or event.outcome in (IterationOutcome.DONE, IterationOutcome.RATE_LIMITED):
            self.wait = 0.0
            return 0.0
        first, cap = self.settings.idle_backoff_seconds, self.settings.idle_backoff_max_seconds
        self.wait = min(max(self.wait * 2, first), cap)
        return max(0.0, self.wait - event.duration_seconds)
