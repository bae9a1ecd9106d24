"""Aider: ``aider --message-file PROMPT --yes-always`` — one message, then exit.

Verified against the real CLI (tests/test_conformance.py) talking to a scripted Chat
Completions server. Aider commits its own edits (which is what the loop wants: commits ride
with the release). It prints ``Tokens: 12k sent, 340 received. Cost: $0.05 message, $0.31
session.`` per model reply: tokens are their sum, the cost the last session figure.

Two habits of Aider's that the loop must not trip on:
- ``--no-gitignore``, and ``.aider*`` in the clone's ``.git/info/exclude``: by default it
  appends ``.aider*`` to the tracked ``.gitignore`` and leaves that uncommitted, which the
  next sync would commit as ``wip:`` and park, every iteration.
- It retries a rate limit or an overload for about a minute, then gives up and *exits 0*.
  A session is rate limited when Aider's last error is of that kind with no "Retrying"
  after it, whatever the exit code.

``agent.base_url`` becomes ``OPENAI_API_BASE`` (for ``openai/...`` models; other providers
take litellm's own variables, e.g. ``ANTHROPIC_API_BASE``).
"""

from __future__ import annotations

import re

from harness.agents.base import Invocation, SessionContext, Usage, keep_out_of_git, rate_limit_line

# "Tokens: 2.0k sent, 500 cache hit, 100 received." ("sent" counts the cached tokens too).
_TOKENS = re.compile(
    r"Tokens:\s*([\d.]+)([kM]?) sent,(?:\s*[\d.]+[kM]? cache (?:write|hit),)*\s*([\d.]+)([kM]?) received",
    re.IGNORECASE,
)
_COST = re.compile(r"Cost:.*?\$([\d.]+) session", re.IGNORECASE)
_SCALE = {"": 1, "k": 1_000, "K": 1_000, "M": 1_000_000}
# What Aider prints for the errors it retries as rate limits or overloads (aider/exceptions.py).
_GAVE_UP = re.compile(
    r"^litellm\.(RateLimitError|ServiceUnavailableError|InternalServerError|BadGatewayError|APIError):.*$"
    r"|^The API provider (has rate limited you|'s servers are down or overloaded).*$",
    re.MULTILINE,
)
_RETRYING = re.compile(r"^Retrying in [\d.]+ seconds", re.MULTILINE)


class AiderBackend:
    name = "aider"
    executable = "aider"

    def invocation(self, ctx: SessionContext) -> Invocation:
        keep_out_of_git(ctx, ".aider*")
        argv = [
            self.executable,
            "--message-file",
            str(ctx.prompt_file),
            "--yes-always",
            "--no-pretty",
            "--no-stream",
            "--no-gitignore",
        ]
        if ctx.model:
            argv += ["--model", ctx.model]
        env = {"OPENAI_API_BASE": ctx.base_url} if ctx.base_url else {}
        return Invocation([*argv, *ctx.extra_args], env=env)

    def usage(self, output: str, returncode: int | None) -> Usage:
        tokens_in = tokens_out = 0
        for match in _TOKENS.finditer(output):
            tokens_in += int(float(match.group(1)) * _SCALE[match.group(2)])
            tokens_out += int(float(match.group(3)) * _SCALE[match.group(4)])
        costs = _COST.findall(output)
        cost = float(costs[-1]) if costs else 0.0
        error = gave_up_on(output) or rate_limit_line(output, returncode)
        return Usage(
            input_tokens=tokens_in, output_tokens=tokens_out, cost_usd=cost, rate_limited=bool(error), error=error
        )


def gave_up_on(output: str) -> str:
    """Aider's rate-limit or overload error after its last "Retrying in" line (so it gave up), or ""."""
    retries = [match.end() for match in _RETRYING.finditer(output)]
    found = _GAVE_UP.search(output, retries[-1] if retries else 0)
    # Aider wraps its messages at the terminal's width: the report is the lines from there.
    return " ".join(output[found.start() : found.start() + 400].split())[:200] if found else ""


BACKEND = AiderBackend()
