"""OpenAI Codex CLI: ``codex exec`` reading the prompt from stdin (``-``), JSONL events out.

Verified against the real CLI (tests/test_agents.py): it parses this argv and then waits
for the network. Token counts come from ``turn.completed`` events; Codex reports no cost,
so the cost stays 0 (use --budget-usd only with backends that report one).
"""

from __future__ import annotations

import json

from harness.agents.base import Invocation, SessionContext, Usage, rate_limited


class CodexBackend:
    name = "codex"
    executable = "codex"

    def invocation(self, ctx: SessionContext) -> Invocation:
        # The loop is the sandbox (its own clone, its own user or container), so codex's
        # approval prompts would only stall an unattended session.
        argv = [
            self.executable,
            "exec",
            "--dangerously-bypass-approvals-and-sandbox",
            "--skip-git-repo-check",
            "--json",
        ]
        if ctx.model:
            argv += ["-m", ctx.model]
        argv += [*ctx.extra_args, "-"]
        return Invocation(argv, stdin_file=ctx.prompt_file)

    def usage(self, output: str, returncode: int | None) -> Usage:
        tokens_in = tokens_out = 0
        for line in output.splitlines():
            if '"turn.completed"' not in line:
                continue
            try:
                usage = json.loads(line).get("usage") or {}
            except (ValueError, AttributeError):
                continue
            tokens_in += int(usage.get("input_tokens") or 0)
            tokens_out += int(usage.get("output_tokens") or 0)
        return Usage(
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=0.0,
            rate_limited=rate_limited(output, returncode),
        )


BACKEND = CodexBackend()
