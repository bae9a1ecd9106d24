"""Claude Code: ``claude -p`` with the prompt on stdin, permissions skipped, stream-json out.

Verified against the real CLI (tests/test_agents.py, tests/test_conformance.py): it runs this
argv against a scripted Anthropic Messages server. ``--output-format stream-json`` needs
``--verbose`` with ``-p``. Tokens and cost come from the last ``{"type": "result"}`` line:
its ``modelUsage`` (per model, the whole session, subagents included) and ``total_cost_usd``
(cumulative); its ``usage`` covers only the main thread since the previous result line, so it
is read only from CLIs too old to print ``modelUsage``.

Claude Code refuses ``--dangerously-skip-permissions`` to a root process unless
``IS_SANDBOX=1``: harness sets it when the *session* runs as root (the loop as root with no
``loop.session_user``, as in a container), not when a root loop runs the session as another
user. ``agent.base_url`` becomes ``ANTHROPIC_BASE_URL``.
"""

from __future__ import annotations

import json
from typing import Any

from harness.agents.base import RATE_LIMIT, Invocation, SessionContext, Usage, generic_usage

_INPUT_KEYS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
_MODEL_INPUT_KEYS = ("inputTokens", "cacheCreationInputTokens", "cacheReadInputTokens")


class ClaudeBackend:
    name = "claude"
    executable = "claude"

    def invocation(self, ctx: SessionContext) -> Invocation:
        argv = [self.executable, "-p", "--dangerously-skip-permissions", "--output-format", "stream-json", "--verbose"]
        if ctx.model:
            argv += ["--model", ctx.model]
        argv += list(ctx.extra_args)
        env = {"IS_SANDBOX": "1"} if ctx.session_uid == 0 else {}
        if ctx.base_url:
            env["ANTHROPIC_BASE_URL"] = ctx.base_url
        return Invocation(argv, stdin_file=ctx.prompt_file, env=env)

    def usage(self, output: str, returncode: int | None) -> Usage:
        result = last_result_message(output)
        if result is None:
            return generic_usage(output, returncode)
        tokens_in, tokens_out = _tokens(result)
        error = str(result.get("result") or "") if result.get("is_error") else ""
        status = _int(result.get("api_error_status"))
        limited = status in (429, 529) or bool(error and RATE_LIMIT.search(error))
        return Usage(
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=float(result.get("total_cost_usd") or 0.0),
            rate_limited=limited,
            error=error.splitlines()[0][:200] if error else "",
        )


def _tokens(result: dict[str, Any]) -> tuple[int, int]:
    """(input incl. cache reads and writes, output) for the whole session."""
    models = result.get("modelUsage")
    if isinstance(models, dict) and models:
        per_model = [m for m in models.values() if isinstance(m, dict)]
        tokens_in = sum(_int(m.get(k)) for m in per_model for k in _MODEL_INPUT_KEYS)
        return tokens_in, sum(_int(m.get("outputTokens")) for m in per_model)
    usage = result.get("usage") or {}
    return sum(_int(usage.get(k)) for k in _INPUT_KEYS), _int(usage.get("output_tokens"))


def last_result_message(output: str) -> dict[str, Any] | None:
    """The last ``{"type": "result", ...}`` JSON line (stream-json), or the whole output (json)."""
    for line in reversed(output.strip().splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("type") == "result":
            return data
    return None


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


BACKEND = ClaudeBackend()
