"""Claude Code (the real CLI, pinned in .ci/machine-setup.sh) run by `harness loop` against a
scripted Anthropic Messages server: its tool calls land, its tokens and cost are recorded as
sent (a subagent's included), rate limits and overloads back off, a hung session is killed,
the budget stops the loop."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance import (
    Profile,
    backs_off_and_hands_back,
    hang_times_out,
    lands_and_stops_on_budget,
    limit_then_overload,
    write_command,
)
from tests.conftest import WorkRepo
from tests.modelserver import Say, Shell, Step, Tool, Usage

# Claude Code 2.1.332's list prices for claude-sonnet-5-5 (what `--model sonnet` resolves to),
# USD per million tokens, as measured against the scripted server: input, output, cache read, cache write.
PRICES = (2.0, 10.0, 0.1, 2.5)


def _cost(usage: Usage) -> float:
    parts = (usage.input, usage.output, usage.cache_read, usage.cache_write)
    return sum(n * price for n, price in zip(parts, PRICES, strict=True)) / 1_000_000


CLAUDE = Profile(
    backend="claude",
    agent={"model": "sonnet"},
    env={
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_MAX_RETRIES": "2",  # its default is 10, with backoff: minutes per test
    },
    cost=_cost,
    rate_limits_first=lambda: limit_then_overload(529),
)


pytestmark = pytest.mark.slow  # real CLIs: seconds each, a minute for Aider's own retries

@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    return str(request.node.name)


def test_claude_subagent_lands_the_commit_and_every_token_is_recorded(
    work: WorkRepo, hermetic_git: Path, name: str
) -> None:
    agent_call = {
        "description": "Write the task's file",
        "prompt": "Create out/t1.txt and commit it.",
        "subagent_type": "general-purpose",
        "run_in_background": False,
    }
    steps: list[Step] = [
        Tool("Agent", agent_call, Usage(3000, 60, 1000, 200)),  # the main thread delegates
        Shell(write_command("t1"), Usage(2000, 40, 500, 0)),  # the subagent works
        Say("Written and committed.", Usage(2600, 12)),  # the subagent reports
        Say("Done: out/t1.txt is committed.", Usage(4000, 20, 1500, 0)),  # the main thread ends
    ]
    # The result line's `usage` says 9,700 in / 80 out (the main thread's two requests); its
    # `modelUsage`, like the server, 14,800 / 132.
    lands_and_stops_on_budget(CLAUDE.bench(work, hermetic_git, name), CLAUDE, steps)


def test_claude_rate_limit_and_overload_back_off_and_hand_the_task_back(
    work: WorkRepo, hermetic_git: Path, name: str
) -> None:
    run = backs_off_and_hands_back(CLAUDE.bench(work, hermetic_git, name), CLAUDE)
    first, second, _ = run.events()
    assert "429" in first.error and "529" in second.error, run.explain()


def test_claude_hung_session_times_out_and_leaves_no_process(work: WorkRepo, hermetic_git: Path, name: str) -> None:
    hang_times_out(CLAUDE.bench(work, hermetic_git, name), CLAUDE)
