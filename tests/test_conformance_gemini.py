"""Gemini CLI (the real CLI, pinned in .ci/machine-setup.sh) run by `harness loop` against a
scripted Gemini API server: it runs in the clone it was never told to trust, its shell call
lands, its tokens are recorded as sent (whatever it printed on stderr) and priced with
``agent.usd_per_mtok``, rate limits and overloads back off, a hung session is killed, the
budget stops the loop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conformance import Profile, backs_off_and_hands_back, hang_times_out, lands_and_stops_on_budget
from tests.conftest import WorkRepo

PRICES = {"input": 1.25, "output": 10.0}  # agent.usd_per_mtok: the Gemini CLI reports tokens only

GEMINI = Profile(
    backend="gemini",
    agent={"model": "gemini-2.5-pro", "usd_per_mtok": PRICES},
    env={"GEMINI_API_KEY": "test-key"},
    cost=lambda usage: (usage.all_input * PRICES["input"] + usage.output * PRICES["output"]) / 1_000_000,
    hang_timeout=40,
)


pytestmark = pytest.mark.slow  # real CLIs: seconds each, a minute for Aider's own retries

@pytest.fixture
def name(request: pytest.FixtureRequest, hermetic_git: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    # The user's own Gemini settings, which harness carries into the session's Gemini home:
    # two attempts per request (its default of 10, 5 s apart at least, is minutes per test).
    (hermetic_git / ".gemini").mkdir(exist_ok=True)
    settings = {"general": {"maxAttempts": 2}, "privacy": {"usageStatisticsEnabled": False}}
    (hermetic_git / ".gemini" / "settings.json").write_text(json.dumps(settings))
    # Where it writes a report of every failed request (gemini-client-error-*.json): the test's.
    (hermetic_git / "tmp").mkdir(exist_ok=True)
    monkeypatch.setenv("TMPDIR", str(hermetic_git / "tmp"))
    return str(request.node.name)


def test_gemini_lands_its_commit_in_an_untrusted_clone(work: WorkRepo, hermetic_git: Path, name: str) -> None:
    lands_and_stops_on_budget(GEMINI.bench(work, hermetic_git, name), GEMINI)


def test_gemini_rate_limit_and_overload_back_off_and_hand_the_task_back(
    work: WorkRepo, hermetic_git: Path, name: str
) -> None:
    run = backs_off_and_hands_back(GEMINI.bench(work, hermetic_git, name), GEMINI)
    first, second, _ = run.events()
    assert "exhausted" in first.error and "overloaded" in second.error, run.explain()


def test_gemini_hung_session_times_out_and_leaves_no_process(work: WorkRepo, hermetic_git: Path, name: str) -> None:
    hang_times_out(GEMINI.bench(work, hermetic_git, name), GEMINI)
