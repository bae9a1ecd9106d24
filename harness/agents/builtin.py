"""The builtin agent: a *scripted* agent, not an AI. It exists for ``harness demo``, the
tests and the benchmark, so the whole loop runs with no API key.

It runs ``python -m harness.agents.builtin_agent`` (see that module): it reads the task's
spec and applies the edit directives written in its body, commits, and reports zero cost.
"""

from __future__ import annotations

import sys

from harness.agents.base import Invocation, SessionContext, Usage
from harness.agents.claude import BACKEND as CLAUDE


class BuiltinBackend:
    name = "builtin"

    def invocation(self, ctx: SessionContext) -> Invocation:
        return Invocation([sys.executable, "-m", "harness.agents.builtin_agent", *ctx.extra_args])

    def usage(self, output: str, returncode: int | None) -> Usage:
        return CLAUDE.usage(output, returncode)


BACKEND = BuiltinBackend()
