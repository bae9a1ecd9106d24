"""Aider: ``aider --message-file PROMPT --yes-always`` — one message, then exit.

Aider commits its own edits (which is what the loop wants: commits ride with the
release). It prints ``Tokens: 12k sent, 340 received. Cost: $0.05 message, $0.31 session.``;
the last such line gives the session's tokens and cost. Not installed in CI (it is a large
PyPI package), so its argv is checked against its documented options only.
"""

from __future__ import annotations

import re

from harness.agents.base import Invocation, SessionContext, Usage, rate_limited

_TOKENS = re.compile(r"Tokens:\s*([\d.]+)([kM]?) sent,\s*([\d.]+)([kM]?) received", re.IGNORECASE)
_COST = re.compile(r"Cost:.*?\$([\d.]+) session", re.IGNORECASE)
_SCALE = {"": 1, "k": 1_000, "K": 1_000, "M": 1_000_000}


class AiderBackend:
    name = "aider"
    executable = "aider"

    def invocation(self, ctx: SessionContext) -> Invocation:
        argv = [self.executable, "--message-file", str(ctx.prompt_file), "--yes-always", "--no-pretty", "--no-stream"]
        if ctx.model:
            argv += ["--model", ctx.model]
        return Invocation([*argv, *ctx.extra_args])

    def usage(self, output: str, returncode: int | None) -> Usage:
        tokens_in = tokens_out = 0
        for match in _TOKENS.finditer(output):
            tokens_in += int(float(match.group(1)) * _SCALE[match.group(2)])
            tokens_out += int(float(match.group(3)) * _SCALE[match.group(4)])
        costs = _COST.findall(output)
        cost = float(costs[-1]) if costs else 0.0
        return Usage(
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=cost,
            rate_limited=rate_limited(output, returncode),
        )


BACKEND = AiderBackend()
