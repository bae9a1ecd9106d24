"""Codex (the real CLI, pinned in .ci/machine-setup.sh) run by `harness loop` against a
scripted OpenAI Responses server, reached through the model provider harness defines for
``agent.base_url``: its shell call lands, its tokens are recorded as sent and priced with
``agent.usd_per_mtok``, rate limits and overloads back off, a hung session is killed, the
budget stops the loop."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance import Profile, backs_off_and_hands_back, hang_times_out, lands_and_stops_on_budget
from tests.conftest import WorkRepo
from tests.modelserver import Usage

PRICES = {"input": 1.25, "output": 10.0}  # agent.usd_per_mtok: Codex reports tokens only

CODEX = Profile(
    backend="codex",
    agent={"model": "gpt-5", "usd_per_mtok": PRICES},
    env={"OPENAI_API_KEY": "sk-test"},
    cost=lambda usage: (usage.all_input * PRICES["input"] + usage.output * PRICES["output"]) / 1_000_000,
    url_suffix="/v1",
)


pytestmark = pytest.mark.slow  # real CLIs: seconds each, a minute for Aider's own retries

@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    return str(request.node.name)


def test_codex_lands_its_commit_and_records_the_tokens_sent(work: WorkRepo, hermetic_git: Path, name: str) -> None:
    lands_and_stops_on_budget(CODEX.bench(work, hermetic_git, name), CODEX)


def test_codex_rate_limit_and_overload_back_off_and_hand_the_task_back(
    work: WorkRepo, hermetic_git: Path, name: str
) -> None:
    run = backs_off_and_hands_back(CODEX.bench(work, hermetic_git, name), CODEX)
    first, second, _ = run.events()
    assert "429" in first.error and "overloaded" in second.error, run.explain()


def test_codex_hung_session_times_out_and_leaves_no_process(work: WorkRepo, hermetic_git: Path, name: str) -> None:
    hang_times_out(CODEX.bench(work, hermetic_git, name), CODEX)


def test_codex_usage_includes_cached_input() -> None:
    assert Usage(1000, 10, 500).all_input == 1500  # what Codex's input_tokens counts
