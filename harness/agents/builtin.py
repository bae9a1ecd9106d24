"""The builtin agent: a *scripted* agent, not an AI. It exists for ``harness demo``, the
tests and the benchmark, so the whole loop runs with no API key.

It runs ``python <harness>/agents/builtin_agent.py`` (see that module; by path, which
starts faster than ``-m``): it applies the edit
directives written in the task spec's body, commits, and reports zero cost. The loop hands
it the spec's title and body in its environment (as it hands any agent the prompt), so a
session need not re-read and parse the spec: that saves the agent process most of its
start-up (PyYAML's import alone costs more than the rest of it).
"""

from __future__ import annotations

import sys
from pathlib import Path

from harness.agents.base import Invocation, SessionContext, Usage
from harness.agents.claude import BACKEND as CLAUDE

AGENT_PROGRAM = str(Path(__file__).with_name("builtin_agent.py"))
MAX_ENV_BODY = 64 * 1024  # Linux caps one environment string at 128 KiB; longer bodies are read from the spec


class BuiltinBackend:
    name = "builtin"

    def invocation(self, ctx: SessionContext) -> Invocation:
        env = {}
        if ctx.task and ctx.kind == "work" and len(ctx.task_body) < MAX_ENV_BODY:
            env = {"HARNESS_TASK_TITLE": ctx.task_title, "HARNESS_TASK_BODY": ctx.task_body}
        return Invocation([sys.executable, AGENT_PROGRAM, *ctx.extra_args], env=env)

    def usage(self, output: str, returncode: int | None) -> Usage:
        return CLAUDE.usage(output, returncode)


BACKEND = BuiltinBackend()
