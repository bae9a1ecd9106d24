"""OpenAI Codex CLI: ``codex exec`` reading the prompt from stdin (``-``), JSONL events out.

Verified against the real CLI (tests/test_conformance.py) talking to a scripted OpenAI
Responses server. Token counts come from ``turn.completed`` events (``input_tokens`` includes
cached input); Codex reports no cost, so the cost stays 0.

Codex ignores ``OPENAI_BASE_URL``: a base URL needs a model provider. With ``agent.base_url``
set (or, failing that, ``OPENAI_BASE_URL`` in the loop's environment) harness defines one on
the command line (``-c model_provider="harness" -c model_providers.harness={...}``: the same
table ``$CODEX_HOME/config.toml`` would hold, ``wire_api = "responses"``), so the user's own
``~/.codex`` (login, settings) is neither needed nor edited. The provider authenticates with
``OPENAI_API_KEY`` when the environment has it, and sends no key otherwise (a local model).
"""

from __future__ import annotations

import json
import os

from harness.agents.base import RATE_LIMIT, Invocation, SessionContext, Usage, rate_limited

PROVIDER = "harness"


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
        base_url = ctx.base_url or os.environ.get("OPENAI_BASE_URL", "")
        if base_url:
            provider = f"model_providers.{PROVIDER}={provider_table(base_url)}"
            argv += ["-c", f"model_provider={json.dumps(PROVIDER)}", "-c", provider]
        if ctx.model:
            argv += ["-m", ctx.model]
        argv += [*ctx.extra_args, "-"]
        return Invocation(argv, stdin_file=ctx.prompt_file)

    def usage(self, output: str, returncode: int | None) -> Usage:
        tokens_in = tokens_out = 0
        error = ""
        for line in output.splitlines():
            if '"turn.' not in line:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            if event.get("type") == "turn.completed":
                usage = event.get("usage") or {}
                tokens_in += int(usage.get("input_tokens") or 0)
                tokens_out += int(usage.get("output_tokens") or 0)
            elif event.get("type") == "turn.failed":  # "exceeded retry limit, last status: 429 ..."
                failure = event.get("error")
                error = str(failure.get("message") if isinstance(failure, dict) else failure or "").strip()
        limited = rate_limited(output, returncode) or bool(error and RATE_LIMIT.search(error))
        return Usage(
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            rate_limited=limited,
            error=error.splitlines()[0][:200] if error else "",
        )


def provider_table(base_url: str) -> str:
    """A Codex model provider for ``base_url``, as an inline TOML table."""
    fields = {"name": "harness (agent.base_url)", "base_url": base_url.rstrip("/"), "wire_api": "responses"}
    if os.environ.get("OPENAI_API_KEY"):
        fields["env_key"] = "OPENAI_API_KEY"
    # A JSON string is a valid TOML basic string (same escapes for quotes, backslashes, controls).
    return "{" + ", ".join(f"{key} = {json.dumps(value)}" for key, value in fields.items()) + "}"


BACKEND = CodexBackend()
