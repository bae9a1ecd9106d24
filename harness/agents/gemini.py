"""Google Gemini CLI: headless with ``-p``, the prompt on stdin, ``--yolo``, JSON output.

Verified against the real CLI (tests/test_agents.py): it parses this argv and fails on
missing credentials (exit 41). ``-p`` text is appended to stdin, so the role prompt goes
on stdin and ``-p`` only says so. Tokens are summed from ``stats.models.*.tokens``.
"""

from __future__ import annotations

import json

from harness.agents.base import RATE_LIMIT, Invocation, SessionContext, Usage, rate_limited

HEADLESS_NOTE = "Follow the instructions above."


class GeminiBackend:
    name = "gemini"
    executable = "gemini"

    def invocation(self, ctx: SessionContext) -> Invocation:
        argv = [self.executable, "--yolo", "--output-format", "json"]
        if ctx.model:
            argv += ["-m", ctx.model]
        argv += [*ctx.extra_args, "-p", HEADLESS_NOTE]
        return Invocation(argv, stdin_file=ctx.prompt_file)

    def usage(self, output: str, returncode: int | None) -> Usage:
        start = output.find("{")
        try:
            data = json.loads(output[start:]) if start >= 0 else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        tokens_in = tokens_out = 0
        for model in ((data.get("stats") or {}).get("models") or {}).values():
            tokens = model.get("tokens") or {} if isinstance(model, dict) else {}
            tokens_in += int(tokens.get("prompt") or 0)
            tokens_out += int(tokens.get("candidates") or 0)
        error = data.get("error") or {}
        message = str(error.get("message") or "") if isinstance(error, dict) else ""
        limited = rate_limited(output, returncode) or bool(message and RATE_LIMIT.search(message))
        return Usage(
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=0.0,
            rate_limited=limited,
            error=message.splitlines()[0][:200] if message else "",
        )


BACKEND = GeminiBackend()
