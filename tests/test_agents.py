"""Agent backends: their argv and environment, and what they read back from output the real
CLIs printed. The CLIs themselves run in tests/test_conformance_*.py, against a scripted
model server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from harness.agents import get_backend
from harness.agents.base import SessionContext
from harness.errors import UsageError

# What Claude Code 2.1 printed here with no credentials (stream-json, last line).
CLAUDE_RESULT = {
    "type": "result",
    "subtype": "success",
    "is_error": True,
    "api_error_status": None,
    "result": "Not logged in · Please run /login",
    "total_cost_usd": 0,
    "usage": {"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 0},
}


def _ctx(tmp_path: Path, **changes: object) -> SessionContext:
    prompt = tmp_path / "prompt.md"
    prompt.write_text("Say hi and exit.\n")
    values: dict[str, object] = {
        "workspace": tmp_path,
        "prompt_file": prompt,
        "agent": "core-dev-01",
        "role": "core-dev",
        "task": "t1",
        "model": "sonnet",
    }
    values.update(changes)
    return SessionContext(**values)  # type: ignore[arg-type]


def test_claude_reads_cost_and_tokens_from_the_result_line() -> None:
    result = dict(CLAUDE_RESULT, is_error=False, result="ok", total_cost_usd=0.4213)
    result["usage"] = {"input_tokens": 100, "cache_read_input_tokens": 900, "output_tokens": 50}
    output = '{"type":"system","subtype":"init"}\n{"type":"assistant"}\n' + json.dumps(result) + "\n"
    usage = get_backend("claude").usage(output, 0)
    assert (usage.input_tokens, usage.output_tokens, usage.cost_usd) == (1000, 50, 0.4213)
    assert not usage.rate_limited and usage.error == ""


def test_claude_tokens_cover_the_whole_session_with_its_subagents() -> None:
    # What Claude Code 2.1.332 printed for a session whose subagent did the work (scripted
    # server: 8,500 tokens in, 82 out sent): `usage` holds the main thread's 4,000/47 only.
    result = dict(CLAUDE_RESULT, is_error=False, result="Done.", total_cost_usd=0.01782)
    result["usage"] = {"input_tokens": 4000, "cache_read_input_tokens": 0, "output_tokens": 47}
    result["modelUsage"] = {
        "claude-sonnet-5-5": {"inputTokens": 8000, "outputTokens": 80, "cacheReadInputTokens": 300},
        "claude-haiku-5": {"inputTokens": 150, "outputTokens": 2, "cacheCreationInputTokens": 50},
    }
    output = '{"type":"result","usage":{"input_tokens":1}}\n' + json.dumps(result) + "\n"
    usage = get_backend("claude").usage(output, 0)
    assert (usage.input_tokens, usage.output_tokens, usage.cost_usd) == (8500, 82, 0.01782)


def test_claude_sets_is_sandbox_by_the_uid_the_session_runs_as(tmp_path: Path) -> None:
    claude = get_backend("claude")
    assert claude.invocation(_ctx(tmp_path, session_uid=0)).env.get("IS_SANDBOX") == "1"
    # A root loop running its sessions as another user: Claude Code is not root, needs no IS_SANDBOX.
    assert "IS_SANDBOX" not in claude.invocation(_ctx(tmp_path, session_uid=1000)).env


def test_claude_rate_limit_and_overload_are_recognised() -> None:
    limited = dict(CLAUDE_RESULT, api_error_status=429, result="API Error: Request rejected (429)")
    assert get_backend("claude").usage(json.dumps(limited), 1).rate_limited
    overloaded = dict(CLAUDE_RESULT, result="API Error: 529 Overloaded")
    assert get_backend("claude").usage(json.dumps(overloaded), 1).rate_limited
    not_logged_in = get_backend("claude").usage(json.dumps(CLAUDE_RESULT), 1)
    assert not not_logged_in.rate_limited and not_logged_in.error.startswith("Not logged in")


def test_a_successful_session_talking_about_quotas_is_not_rate_limited() -> None:
    assert not get_backend("command").usage("I fixed the quota handling in limits.py\n", 0).rate_limited


def test_codex_reports_why_its_turn_failed() -> None:
    # What Codex 0.171.0 printed after its retries against a server answering 429.
    out = (
        '{"type":"error","message":"Reconnecting... 5/5 (exceeded retry limit, last status: 429 Too Many Requests)"}\n'
        '{"type":"turn.failed","error":{"message":"exceeded retry limit, last status: 429 Too Many Requests"}}\n'
    )
    usage = get_backend("codex").usage(out, 1)
    assert usage.rate_limited and usage.error == "exceeded retry limit, last status: 429 Too Many Requests"


def test_codex_gemini_aider_usage_parsing() -> None:
    codex_out = '{"type":"turn.completed","usage":{"input_tokens":1200,"output_tokens":80}}\n'
    assert get_backend("codex").usage(codex_out, 0).input_tokens == 1200
    gemini_out = json.dumps({"response": "hi", "stats": {"models": {"g": {"tokens": {"prompt": 7, "candidates": 3}}}}})
    usage = get_backend("gemini").usage(gemini_out, 0)
    assert (usage.input_tokens, usage.output_tokens) == (7, 3)
    aider_out = "Tokens: 12k sent, 340 received. Cost: $0.05 message, $0.31 session.\n"
    usage = get_backend("aider").usage(aider_out, 0)
    assert (usage.input_tokens, usage.output_tokens, usage.cost_usd) == (12000, 340, 0.31)
    cached = "Tokens: 2.0k sent, 100 cache write, 500 cache hit, 100 received. Cost: $0.03 message, $0.03 session.\n"
    usage = get_backend("aider").usage(cached, 0)
    assert (usage.input_tokens, usage.output_tokens, usage.cost_usd) == (2000, 100, 0.03)


# What Gemini CLI 0.61.0 printed on a failed request, stderr and stdout in one log: a stack
# trace holding the API's JSON error, then its own JSON report.
GEMINI_LOG = """YOLO mode is enabled. All tool calls will be automatically approved.
Attempt 1 failed with status 429. Retrying with backoff... _ApiError: {"error":{"code":429,"message":"Resource \
has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}
    at throwErrorIfNotOK (file:///gemini-cli/bundle/chunk-JDPZ4CE3.js:267833:24) {
  status: 429
}
{
  "session_id": "84645906-d65e-43b2-85ef-7bbe1d3f4a88",
  "response": "Done.",
  "stats": {
    "models": {
      "gemini-2.5-pro": {"tokens": {"input": 2800, "prompt": 3900, "candidates": 38, "cached": 1100}},
      "gemini-2.5-flash": {"tokens": {"prompt": 100, "candidates": 2}}
    }
  }
}
"""


def test_gemini_tokens_come_from_its_report_whatever_stderr_printed_before() -> None:
    usage = get_backend("gemini").usage(GEMINI_LOG, 0)
    assert (usage.input_tokens, usage.output_tokens) == (4000, 40)
    failed = GEMINI_LOG.split("{\n")[0] + "\n" + json.dumps({"error": {"message": "quota exceeded (429)", "code": 429}})
    usage = get_backend("gemini").usage(failed, 1)
    assert usage.rate_limited and usage.error == "quota exceeded (429)"


def test_gemini_trusts_the_clone_and_takes_a_base_url_with_api_key_auth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / ".gemini").mkdir(parents=True)
    (home / ".gemini" / "settings.json").write_text('{"general": {"maxAttempts": 2}}')
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GOOGLE_GEMINI_BASE_URL", raising=False)
    gemini = get_backend("gemini")
    plain = gemini.invocation(_ctx(tmp_path))
    assert plain.env == {"GEMINI_CLI_TRUST_WORKSPACE": "true"}  # without it: exit 55 in any new folder
    env = gemini.invocation(_ctx(tmp_path, base_url="http://127.0.0.1:9")).env
    assert env["GOOGLE_GEMINI_BASE_URL"] == "http://127.0.0.1:9"
    settings = json.loads((Path(env["GEMINI_CLI_HOME"]) / ".gemini" / "settings.json").read_text())
    assert settings == {"general": {"maxAttempts": 2}, "security": {"auth": {"selectedType": "gemini-api-key"}}}
    assert Path(env["GEMINI_CLI_HOME"]).is_relative_to(tmp_path / ".git")  # never the user's own ~/.gemini
    assert json.loads((home / ".gemini" / "settings.json").read_text()) == {"general": {"maxAttempts": 2}}


def test_codex_gets_a_provider_for_a_base_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tomllib

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    codex = get_backend("codex")
    assert "-c" not in codex.invocation(_ctx(tmp_path)).argv
    argv = codex.invocation(_ctx(tmp_path, base_url="http://gw.example:8080/v1/")).argv
    overrides = [argv[i + 1] for i, word in enumerate(argv) if word == "-c"]
    config = tomllib.loads("\n".join(overrides))  # what codex parses: each -c value is TOML
    assert config["model_provider"] == "harness"
    assert config["model_providers"]["harness"] == {
        "name": "harness (agent.base_url)",
        "base_url": "http://gw.example:8080/v1",
        "wire_api": "responses",
        "env_key": "OPENAI_API_KEY",
    }
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # which codex itself ignores
    monkeypatch.delenv("OPENAI_API_KEY")
    argv = codex.invocation(_ctx(tmp_path)).argv
    assert 'base_url = "http://127.0.0.1:9/v1"' in argv[argv.index("-c", argv.index("-c") + 1) + 1]
    assert "env_key" not in " ".join(argv)  # a local model without a key


# What Aider 0.86.2 printed when the server kept answering 429 (it exits 0 after this).
AIDER_GAVE_UP = """Aider v0.86.2
litellm.RateLimitError: RateLimitError: OpenAIException - Rate limit reached for
requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.
The API provider has rate limited you. Try again later or check your quotas.
Retrying in 32.0 seconds...
litellm.RateLimitError: RateLimitError: OpenAIException - Rate limit reached for
requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.
The API provider has rate limited you. Try again later or check your quotas.
"""


def test_aider_giving_up_on_a_rate_limit_is_seen_though_it_exits_0() -> None:
    usage = get_backend("aider").usage(AIDER_GAVE_UP, 0)
    assert usage.rate_limited and usage.error.startswith("litellm.RateLimitError")
    recovered = AIDER_GAVE_UP + "Retrying in 64.0 seconds...\nTokens: 1.2k sent, 30 received.\n"
    assert not get_backend("aider").usage(recovered, 0).rate_limited  # it retried and went on
    overloaded = (  # wrapped at the terminal's width, as Aider prints it
        "Retrying in 32.0 seconds...\n"
        "litellm.ServiceUnavailableError: ServiceUnavailableError: OpenAIException - The \n"
        "server is overloaded or not ready yet.\nThe API provider's servers are down or overloaded.\n"
    )
    usage = get_backend("aider").usage(overloaded, 0)
    assert usage.rate_limited and "server is overloaded" in usage.error
    assert not get_backend("aider").usage("I fixed the rate limit handling.\n", 0).rate_limited


def test_aider_keeps_its_files_out_of_git_without_touching_gitignore(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "init", "-q", str(clone)], check=True)
    (clone / ".gitignore").write_text("build/\n")
    inv = get_backend("aider").invocation(_ctx(tmp_path, workspace=clone))
    assert "--no-gitignore" in inv.argv
    get_backend("aider").invocation(_ctx(tmp_path, workspace=clone))  # twice: the line is there once
    exclude = (clone / ".git" / "info" / "exclude").read_text().splitlines()
    assert exclude.count(".aider*") == 1
    (clone / ".aider.chat.history.md").write_text("chat")
    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True)
    assert status.stdout.split() == ["??", ".gitignore"]  # the history is ignored; .gitignore is the project's
    assert (clone / ".gitignore").read_text() == "build/\n"


def test_a_base_url_reaches_each_cli_as_its_own_variable(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, base_url="http://127.0.0.1:9")
    assert get_backend("claude").invocation(ctx).env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9"
    assert get_backend("aider").invocation(ctx).env["OPENAI_API_BASE"] == "http://127.0.0.1:9"


def test_argv_of_each_backend(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    claude = get_backend("claude").invocation(ctx)
    assert claude.argv[:2] == ["claude", "-p"] and "--dangerously-skip-permissions" in claude.argv
    assert claude.argv[claude.argv.index("--output-format") + 1] == "stream-json" and "--verbose" in claude.argv
    assert claude.stdin_file == ctx.prompt_file
    codex = get_backend("codex").invocation(ctx)
    assert codex.argv[:2] == ["codex", "exec"] and codex.argv[-1] == "-" and "--json" in codex.argv
    aider = get_backend("aider").invocation(ctx)
    assert aider.argv[aider.argv.index("--message-file") + 1] == str(ctx.prompt_file)
    gemini = get_backend("gemini").invocation(ctx)
    assert "--yolo" in gemini.argv and "-p" in gemini.argv
    cmd = get_backend("command").invocation(_ctx(tmp_path, command="my-agent --task {task} {prompt_file}"))
    assert cmd.argv == ["my-agent", "--task", "t1", str(ctx.prompt_file)]
    with pytest.raises(UsageError, match=r"agent\.command"):
        get_backend("command").invocation(ctx)
    with pytest.raises(UsageError, match="unknown agent backend"):
        get_backend("copilot")


def test_agent_base_url_and_prices_are_read_and_checked(tmp_path: Path) -> None:
    from harness.config import load_config
    from harness.errors import ConfigError
    from harness.loop.config import AgentSettings, read_agent_settings

    def read(agent: str) -> AgentSettings:
        (tmp_path / "harness.yaml").write_text(f"version: 1\nagent:\n{agent}")
        return read_agent_settings(load_config(tmp_path))

    settings = read("  base_url: http://gw:8080/v1\n  usd_per_mtok: {input: 1.25, output: 10}\n")
    assert settings.base_url == "http://gw:8080/v1" and settings.usd_per_mtok == (1.25, 10.0)
    with pytest.raises(ConfigError, match=r"harness\.yaml: agent\.base_url: expected an http"):
        read("  base_url: gw:8080\n")
    with pytest.raises(ConfigError, match=r"harness\.yaml: agent\.usd_per_mtok: expected \{input: USD, output: USD\}"):
        read("  usd_per_mtok: {input: 1}\n")


def test_prices_give_a_cost_only_to_sessions_that_report_none() -> None:
    from harness.agents.base import Usage, priced

    assert priced(Usage(input_tokens=2_000_000, output_tokens=100_000), (1.25, 10.0)).cost_usd == pytest.approx(3.5)
    assert priced(Usage(input_tokens=2_000_000, output_tokens=100_000, cost_usd=0.5), (1.25, 10.0)).cost_usd == 0.5
    assert priced(Usage(input_tokens=2_000_000, output_tokens=100_000), None).cost_usd == 0.0
