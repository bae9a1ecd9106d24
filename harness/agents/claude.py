"""Claude Code: ``claude -p`` with the prompt on stdin, permissions skipped, stream-json out.

Verified against the real CLI (tests/test_agents.py): it accepts this argv and, with no
credentials, fails on authentication after parsing it. ``--output-format stream-json``
needs ``--verbose`` with ``-p``; the final ``{"type": "result"}`` line carries
``total_cost_usd`` and ``usage``. Claude Code refuses ``--dangerously-skip-permissions``
as root unless ``IS_SANDBOX=1``: harness sets it only when the session itself runs as
root, which happens only inside the fleet's container or a user's explicit choice.
"""

from __future__ import annotations

import json
import os
from typing import Any

from harness.agents.base import RATE_LIMIT, Invocation, SessionContext, Usage, generic_usage


class ClaudeBackend:
    name = "claude"
    executable = "claude"

    def invocation(self, ctx: SessionContext) -> Invocation:
        argv = [self.executable, "-p", "--dangerously-skip-permissions", "--output-format", "stream-json", "--verbose"]
        if ctx.model:
            argv += ["--model", ctx.model]
        argv += list(ctx.extra_args)
        env = {"IS_SANDBOX": "1"} if os.geteuid() == 0 else {}
        return Invocation(argv, stdin_file=ctx.prompt_file, env=env)

    def usage(self, output: str, returncode: int | None) -> Usage:
        result = last_result_message(output)
        if result is None:
            return generic_usage(output, returncode)
        usage = result.get("usage") or {}
        tokens_in = sum(
            _int(usage.get(k)) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        )
        error = str(result.get("result") or "") if result.get("is_error") else ""
        status = _int(result.get("api_error_status"))
        limited = status in (429, 529) or bool(error and RATE_LIMIT.search(error))
        return Usage(
            input_tokens=tokens_in,
            output_tokens=_int(usage.get("output_tokens")),
            cost_usd=float(result.get("total_cost_usd") or 0.0),
            rate_limited=limited,
            error=error.splitlines()[0][:200] if error else "",
        )


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
