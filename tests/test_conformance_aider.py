"""Aider (the real CLI, pinned in .ci/machine-setup.sh, in its own venv) run by `harness loop`
against a scripted Chat Completions server: its edit lands in its own commit without touching
the tracked .gitignore, its tokens and cost are recorded as it reports them, a rate limit it
gives up on (exiting 0) backs off and hands the task back, a hung session is killed, the
budget stops the loop."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conformance import Profile, backs_off_and_hands_back, hang_times_out, lands_and_stops_on_budget
from tests.conftest import WorkRepo, git
from tests.modelserver import Fail, Say, Step, Usage, iteration

METADATA = Path(__file__).with_name("aider-model-metadata.json")  # the model's prices, for Aider's cost
PRICES = json.loads(METADATA.read_text())["openai/test-model"]


def _edit(task: str) -> list[Step]:
    """Aider's "whole" edit format: the file's path, then its whole content fenced."""
    reply = f"out/{task}.txt\n```\n{task} done\n```\n"
    # 2,000 tokens in (500 of them cached), 100 out: Aider prints "2.0k sent, 500 cache hit, 100 received".
    return [Say(reply, Usage(1500, 100, 500))]


def _commit_message(path: str, body: dict[str, Any]) -> bool:
    """Aider asks its (weak) model for a commit message: a request on the side."""
    return "commit message" in json.dumps(body.get("messages", [])[:1])


AIDER = Profile(
    backend="aider",
    agent={
        "model": "openai/test-model",
        "args": [
            "--edit-format",
            "whole",
            "--model-metadata-file",
            str(METADATA),
            "--no-show-model-warnings",
            "--no-check-update",
            "--analytics-disable",
        ],
    },
    env={"OPENAI_API_KEY": "sk-test", "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    cost=lambda u: u.all_input * PRICES["input_cost_per_token"] + u.output * PRICES["output_cost_per_token"],
    hang_timeout=40,
    work=_edit,
    side=_commit_message,
    side_text="Write the task's file",
    url_suffix="/v1",
    # Aider retries for about a minute (9 requests), then gives up and exits 0: one session
    # sees both a rate limit and an overload.
    rate_limits_first=lambda: [Fail(429, times=4), Fail(503, until=iteration(2))],
    limited_sessions=1,
)


pytestmark = pytest.mark.slow  # real CLIs: seconds each, a minute for Aider's own retries

@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    return str(request.node.name)


def test_aider_lands_its_commit_and_records_tokens_and_cost(work: WorkRepo, hermetic_git: Path, name: str) -> None:
    bench = AIDER.bench(work, hermetic_git, name)
    lands_and_stops_on_budget(bench, AIDER)
    clone = work.base / "clones" / bench.agent
    assert (clone / ".aider.chat.history.md").exists()  # Aider wrote its files...
    # ...yet the clone is clean, so the next sync has nothing to commit and park, and the
    # tracked .gitignore stays the project's.
    assert git(clone, "status", "--porcelain", "--untracked-files=all") == ""
    assert "aider" not in (work.upstream_file(".gitignore") or "")


def test_aider_gives_up_on_a_rate_limit_and_the_loop_backs_off(work: WorkRepo, hermetic_git: Path, name: str) -> None:
    run = backs_off_and_hands_back(AIDER.bench(work, hermetic_git, name), AIDER)
    (limited, _) = run.events()
    assert limited.session_exit == "exited 0" and "overloaded" in limited.error, run.explain()


def test_aider_hung_session_times_out_and_leaves_no_process(work: WorkRepo, hermetic_git: Path, name: str) -> None:
    hang_times_out(AIDER.bench(work, hermetic_git, name), AIDER)
