"""Google Gemini CLI: headless with ``-p``, the prompt on stdin, ``--yolo``, JSON output.

Verified against the real CLI (tests/test_conformance.py) talking to a scripted Gemini API
server. ``-p`` text is appended to stdin, so the role prompt goes on stdin and ``-p`` only
says so. ``GEMINI_CLI_TRUST_WORKSPACE=true``: headless in a folder it was never told to trust,
the CLI exits 55 (and drops ``--yolo``). Tokens are summed from ``stats.models.*.tokens`` of
the JSON object the CLI prints last; the log also holds its stderr, where a stack trace may
print braces before it.

A base URL (``agent.base_url``, or ``GOOGLE_GEMINI_BASE_URL`` in the loop's environment)
goes to ``GOOGLE_GEMINI_BASE_URL``. The CLI then takes the "gateway" auth type, which its
headless mode rejects (exit 41, "Invalid auth method selected") unless the settings choose
one; so harness gives the session a Gemini home of its own (``GEMINI_CLI_HOME`` under
``.git/harness/``) whose ``settings.json`` is the user's with
``security.auth.selectedType = "gemini-api-key"`` (the key is ``GEMINI_API_KEY``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from harness.agents.base import RATE_LIMIT, Invocation, SessionContext, Usage, rate_limited

HEADLESS_NOTE = "Follow the instructions above."
_REPORT_KEYS = ("session_id", "response", "stats", "error")


class GeminiBackend:
    name = "gemini"
    executable = "gemini"

    def invocation(self, ctx: SessionContext) -> Invocation:
        argv = [self.executable, "--yolo", "--output-format", "json"]
        if ctx.model:
            argv += ["-m", ctx.model]
        argv += [*ctx.extra_args, "-p", HEADLESS_NOTE]
        env = {"GEMINI_CLI_TRUST_WORKSPACE": "true"}
        base_url = ctx.base_url or os.environ.get("GOOGLE_GEMINI_BASE_URL", "")
        if base_url:
            env["GOOGLE_GEMINI_BASE_URL"] = base_url
            env["GEMINI_CLI_HOME"] = str(gemini_home(ctx.state_dir / "gemini-home"))
        return Invocation(argv, stdin_file=ctx.prompt_file, env=env)

    def usage(self, output: str, returncode: int | None) -> Usage:
        data = last_report(output)
        tokens_in = tokens_out = 0
        for model in ((data.get("stats") or {}).get("models") or {}).values():
            tokens = model.get("tokens") or {} if isinstance(model, dict) else {}
            tokens_in += int(tokens.get("prompt") or 0)
            tokens_out += int(tokens.get("candidates") or 0)
        error = data.get("error") or {}
        message = str(error.get("message") or "") if isinstance(error, dict) else ""
        code = error.get("code") if isinstance(error, dict) else None
        limited = code in (429, 503) or rate_limited(output, returncode) or bool(message and RATE_LIMIT.search(message))
        return Usage(
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            rate_limited=limited,
            error=message.splitlines()[0][:200] if message else "",
        )


def last_report(output: str) -> dict[str, Any]:
    """The last JSON object the CLI printed as its report: it starts at the beginning of a
    line and has the report's keys. Braces inside stderr lines (``_ApiError: {...}``) and
    objects that are not the report are passed over."""
    decoder = json.JSONDecoder()
    found: dict[str, Any] = {}
    start = 0
    while (start := output.find("{", start)) >= 0:
        if start == 0 or output[start - 1] == "\n":
            try:
                data, end = decoder.raw_decode(output, start)
            except ValueError:
                data, end = None, start + 1
            if isinstance(data, dict) and any(key in data for key in _REPORT_KEYS):
                found = data
            start = max(end, start + 1)
        else:
            start += 1
    return found


def gemini_home(home: Path) -> Path:
    """A Gemini home whose settings are the user's, with API-key auth chosen (see above)."""
    user_home = Path(os.environ.get("GEMINI_CLI_HOME") or Path.home())
    settings: dict[str, Any] = {}
    try:
        loaded = json.loads((user_home / ".gemini" / "settings.json").read_text())
        settings = loaded if isinstance(loaded, dict) else {}
    except (OSError, ValueError):  # none, or with comments: the CLI's defaults then
        pass
    security = settings.setdefault("security", {})
    auth = security.setdefault("auth", {}) if isinstance(security, dict) else {}
    if not isinstance(security, dict) or not isinstance(auth, dict):
        settings["security"] = {"auth": {}}
        auth = settings["security"]["auth"]
    auth["selectedType"] = "gemini-api-key"
    (home / ".gemini").mkdir(parents=True, exist_ok=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
    return home


BACKEND = GeminiBackend()
