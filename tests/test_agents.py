"""Agent backends: their argv, what they read back from real output, and the real CLIs
accepting the harness's argv (they get past argument parsing and fail on auth/network)."""

from __future__ import annotations

import json
import os
import shutil
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


def test_claude_rate_limit_and_overload_are_recognised() -> None:
    limited = dict(CLAUDE_RESULT, api_error_status=429, result="API Error: Request rejected (429)")
    assert get_backend("claude").usage(json.dumps(limited), 1).rate_limited
    overloaded = dict(CLAUDE_RESULT, result="API Error: 529 Overloaded")
    assert get_backend("claude").usage(json.dumps(overloaded), 1).rate_limited
    not_logged_in = get_backend("claude").usage(json.dumps(CLAUDE_RESULT), 1)
    assert not not_logged_in.rate_limited and not_logged_in.error.startswith("Not logged in")


def test_a_successful_session_talking_about_quotas_is_not_rate_limited() -> None:
    assert not get_backend("command").usage("I fixed the quota handling in limits.py\n", 0).rate_limited


def test_codex_gemini_aider_usage_parsing() -> None:
    codex_out = '{"type":"turn.completed","usage":{"input_tokens":1200,"output_tokens":80}}\n'
    assert get_backend("codex").usage(codex_out, 0).input_tokens == 1200
    gemini_out = json.dumps({"response": "hi", "stats": {"models": {"g": {"tokens": {"prompt": 7, "candidates": 3}}}}})
    usage = get_backend("gemini").usage(gemini_out, 0)
    assert (usage.input_tokens, usage.output_tokens) == (7, 3)
    aider_out = "Tokens: 12k sent, 340 received. Cost: $0.05 message, $0.31 session.\n"
    usage = get_backend("aider").usage(aider_out, 0)
    assert (usage.input_tokens, usage.output_tokens, usage.cost_usd) == (12000, 340, 0.31)


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


def _claude_binary(tmp_path_factory: pytest.TempPathFactory) -> str:
    found = shutil.which("claude")
    if found:
        return found
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed, so the Claude Code CLI cannot be installed here")
    prefix = tmp_path_factory.mktemp("npm")
    proc = subprocess.run(
        [npm, "install", "--prefix", str(prefix), "@anthropic-ai/claude-code"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    binary = prefix / "node_modules" / ".bin" / "claude"
    if proc.returncode != 0 or not binary.exists():
        pytest.skip(f"npm could not install @anthropic-ai/claude-code (registry unreachable?): {proc.stderr[-300:]}")
    return str(binary)


def _run_real(
    argv: list[str], ctx: SessionContext, env: dict[str, str], home: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "HOME": str(home), **env}
    for key in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"):
        full_env.pop(key, None)
    with open(ctx.prompt_file, "rb") as stdin:
        return subprocess.run(
            argv,
            stdin=stdin,
            capture_output=True,
            text=True,
            env=full_env,
            cwd=ctx.workspace,
            timeout=timeout,
            check=False,
        )


def test_the_real_claude_cli_accepts_the_harness_argv(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    binary = _claude_binary(tmp_path_factory)
    inv = get_backend("claude").invocation(_ctx(tmp_path))
    proc = _run_real([binary, *inv.argv[1:]], _ctx(tmp_path), inv.env, tmp_path_factory.mktemp("home"))
    output = proc.stdout + proc.stderr
    # Argument parsing passed: no usage error; it got as far as needing credentials or the network.
    assert "unknown option" not in output and "requires --verbose" not in output, output[-500:]
    assert "cannot be used with root" not in output, output[-500:]
    usage = get_backend("claude").usage(proc.stdout, proc.returncode)
    assert '"type":"result"' in proc.stdout.replace(" ", ""), output[-500:]
    assert usage.error or proc.returncode != 0  # no API reachable here: it reports why


@pytest.mark.parametrize("name", ["codex", "gemini"])
def test_other_real_clis_accept_the_harness_argv_when_installed(
    name: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    binary = shutil.which(name)
    if binary is None:
        package = "@openai/codex" if name == "codex" else "@google/gemini-cli"
        pytest.skip(f"{name} CLI not installed (npm install -g {package})")
    inv = get_backend(name).invocation(_ctx(tmp_path))
    home = tmp_path_factory.mktemp("home")
    try:
        proc = _run_real([binary, *inv.argv[1:]], _ctx(tmp_path), inv.env, home, timeout=20)
        output = proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:  # codex waits for the network: parsing passed long ago
        output = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else str(exc.stdout or "")
    lowered = output.lower()
    assert "unknown argument" not in lowered and "unexpected argument" not in lowered, output[-500:]
    assert "usage:" not in lowered, output[-500:]
