"""Any command: ``agent.command`` (or ``--agent-cmd``) is a template such as
``my-agent --prompt {prompt_file} --task {task}``; the prompt is also on stdin.

If the command prints a Claude-style ``{"type": "result", ...}`` JSON line, its usage and
cost are read from it; otherwise only the rate-limit signal is.
"""

from __future__ import annotations

from harness.agents.base import Invocation, SessionContext, Usage, expand_template
from harness.agents.claude import BACKEND as CLAUDE
from harness.errors import UsageError


class CommandBackend:
    name = "command"

    def invocation(self, ctx: SessionContext) -> Invocation:
        if not ctx.command.strip():
            raise UsageError(
                "the command backend needs agent.command in harness.yaml or --agent-cmd 'CMD {prompt_file}'"
            )
        return Invocation([*expand_template(ctx.command, ctx), *ctx.extra_args], stdin_file=ctx.prompt_file)

    def usage(self, output: str, returncode: int | None) -> Usage:
        return CLAUDE.usage(output, returncode)


BACKEND = CommandBackend()
