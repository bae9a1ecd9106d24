"""What a scripted model server answers, step by step, and what it recorded.

A ``Script`` is the conversation one test expects: each request of the main conversation (a
CLI's agent turn, a subagent's turn) takes the next step; requests a CLI makes on the side
(a commit message, a "who speaks next" check) get a short text that carries no usage, so
the tokens a CLI reports must equal the sum of the steps' usage whatever it counts on the
side. Every reply's usage is recorded, so a test compares it with ``events.jsonl``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True)
class Usage:
    """Tokens as the vendor reports them; ``input`` excludes cached tokens."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0

    @property
    def all_input(self) -> int:
        return self.input + self.cache_read + self.cache_write

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input + other.input,
            self.output + other.output,
            self.cache_read + other.cache_read,
            self.cache_write + other.cache_write,
        )


@dataclass(frozen=True)
class Shell:
    """A tool call that runs ``command`` in the CLI's own shell tool."""

    command: str
    usage: Usage = Usage(1000, 20)


@dataclass(frozen=True)
class Tool:
    """A call of the named tool with these arguments (Claude's ``Agent`` for a subagent)."""

    name: str
    arguments: Json
    usage: Usage = Usage(1000, 20)


@dataclass(frozen=True)
class Say:
    """A final text answer."""

    text: str
    usage: Usage = Usage(1000, 10)


@dataclass(frozen=True)
class Fail:
    """The vendor's real error for ``status`` (429 rate limit, 529/503 overload), ``times``
    requests in a row, or, with ``until``, every request until one makes ``until(body)`` true
    (that one gets the next step): "until the loop's next iteration", whatever the CLI retries."""

    status: int
    times: int = 1
    until: Callable[[Json], bool] | None = None


def iteration(n: int) -> Callable[[Json], bool]:
    """True for a request of the loop's iteration ``n`` (its prompt says so)."""
    return lambda body: f"iteration {n} of" in json.dumps(body)


@dataclass(frozen=True)
class Hang:
    """Read the request and never answer (until the server stops)."""


Step = Shell | Tool | Say | Fail | Hang


@dataclass
class Exchange:
    """One request the server answered: where it went, what it asked, what usage it got."""

    path: str
    body: Json
    reply: str  # the step's kind, or "side"
    usage: Usage = Usage()
    at: float = field(default_factory=time.monotonic)


@dataclass
class Script:
    steps: list[Step]
    side: Callable[[str, Json], bool] = lambda path, body: False
    side_text: str = "ok"
    exchanges: list[Exchange] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _failed: int = 0

    def next(self, path: str, body: Json) -> Step | None:
        """The step for this request (None: a side request), and the exchange recorded."""
        with self._lock:
            if self.side(path, body):
                self.exchanges.append(Exchange(path, body, "side"))
                return None
            while self.steps and isinstance(self.steps[0], Fail) and (self.steps[0].until or _never)(body):
                self.steps.pop(0)
                self._failed = 0
            step: Step = self.steps[0] if self.steps else Say("(the script has no more steps)", Usage())
            if isinstance(step, Fail):
                self._failed += 1
                if step.until is None and self._failed >= step.times:
                    self.steps.pop(0)
                    self._failed = 0
            elif self.steps and not isinstance(step, Hang):  # a hang answers every request after it
                self.steps.pop(0)
            usage = step.usage if isinstance(step, Shell | Tool | Say) else Usage()
            self.exchanges.append(Exchange(path, body, type(step).__name__.lower(), usage))
            return step

    def planned(self) -> Usage:
        """The usage the steps not yet taken will send."""
        with self._lock:
            total = Usage()
            for step in self.steps:
                total = total + (step.usage if isinstance(step, Shell | Tool | Say) else Usage())
            return total

    def sent(self) -> Usage:
        """The usage of every reply so far."""
        with self._lock:
            total = Usage()
            for exchange in self.exchanges:
                total = total + exchange.usage
            return total

    def replies(self, kind: str) -> int:
        """How many requests got a step of this kind ("fail", "shell", "say", "side"...)."""
        with self._lock:
            return sum(1 for e in self.exchanges if e.reply == kind)


def _never(body: Json) -> bool:
    return False
