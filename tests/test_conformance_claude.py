"""Claude Code (the real CLI, pinned in .ci/machine-setup.sh) run by `harness loop` against a
scripted Anthropic Messages server: its tool calls land, its tokens and cost are recorded as
sent, rate limits and overloads back off, a hung session is killed, the budget stops the loop."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance import Bench, Landed, write_command
from tests.conftest import WorkRepo
from tests.loophelpers import locks_upstream
from tests.modelserver import Fail, Hang, Say, Script, Shell, Tool, Usage, iteration, serve

# Claude Code 2.1.332's list prices for claude-sonnet-5-5 (what `--model sonnet` resolves to),
# USD per million tokens, as measured against the scripted server: input, output, cache read, cache write.
PRICES = (2.0, 10.0, 0.1, 2.5)


def _cost(usage: Usage) -> float:
    parts = (usage.input, usage.output, usage.cache_read, usage.cache_write)
    return sum(n * price for n, price in zip(parts, PRICES, strict=True)) / 1_000_000


@pytest.fixture
def bench(work: WorkRepo, hermetic_git: Path, request: pytest.FixtureRequest) -> Bench:
    bench = Bench(work, "claude", hermetic_git, f"claude-{request.node.name[5:25].replace('_', '-')}")
    bench.env.update(
        {
            "ANTHROPIC_API_KEY": "sk-ant-test",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "CLAUDE_CODE_MAX_RETRIES": "2",  # its default is 10, with backoff: minutes per test
        }
    )
    return bench


def test_claude_subagent_lands_the_commit_and_every_token_is_recorded(bench: Bench) -> None:
    agent_call = {
        "description": "Write the task's file",
        "prompt": "Create out/t1.txt and commit it.",
        "subagent_type": "general-purpose",
        "run_in_background": False,
    }
    script = Script(
        [
            Tool("Agent", agent_call, Usage(3000, 60, 1000, 200)),  # the main thread delegates
            Shell(write_command("t1"), Usage(2000, 40, 500, 0)),  # the subagent works
            Say("Written and committed.", Usage(2600, 12)),  # the subagent reports
            Say("Done: out/t1.txt is committed.", Usage(4000, 20, 1500, 0)),  # the main thread ends
        ]
    )
    budget = _cost(script.planned()) / 2  # spent by the first session: the loop must stop there
    with serve(script) as server:
        bench.configure({"model": "sonnet", "base_url": server.url}, tasks=2)
        run = bench.loop("--max-iterations", "3", "--budget-usd", f"{budget:.6f}")
    sent = script.sent()
    assert run.proc.returncode == 0 and run.outcomes() == ["done"], run.explain()
    Landed(run, "t1").check()
    (event,) = run.events()
    assert (event["input_tokens"], event["output_tokens"]) == (sent.all_input, sent.output) == (14800, 132)
    assert event["cost_usd"] == pytest.approx(_cost(sent), rel=1e-9)
    assert "loop stopped: budget spent" in run.output, run.explain()
    assert run.spec_status("t2") == "open" and locks_upstream(bench.work) == []  # never claimed


def test_claude_rate_limit_and_overload_back_off_and_hand_the_task_back(bench: Bench) -> None:
    script = Script(
        [
            Fail(429, until=iteration(2)),
            Fail(529, until=iteration(3)),
            Shell(write_command("t1")),
            Say("Done."),
        ]
    )
    with serve(script) as server:
        bench.configure({"model": "sonnet", "base_url": server.url})
        run = bench.loop("--max-iterations", "3")
    assert run.outcomes() == ["rate-limited", "rate-limited", "done"], run.explain()
    first, second, _ = run.events()
    assert "429" in first["error"] and "529" in second["error"], run.explain()
    waits = [line.split()[-2] for line in run.output.splitlines() if "rate limited by claude: backing off" in line]
    assert waits == ["0.1", "0.2"], run.explain()  # backed off, doubling
    assert script.replies("fail") >= 4  # the CLI's own retries came first (CLAUDE_CODE_MAX_RETRIES)
    Landed(run, "t1").check()  # handed back twice, claimed again, done


def test_claude_hung_session_times_out_and_leaves_no_process(bench: Bench) -> None:
    script = Script([Hang()])
    with serve(script) as server:
        bench.configure({"model": "sonnet", "base_url": server.url}, {"session_timeout_seconds": 20})
        run = bench.loop("--once")
        leftovers = bench.leftovers()  # while the server still holds the hung request open
    assert run.outcomes() == ["timeout"], run.explain()
    assert "timed out" in run.events()[0]["session_exit"]
    assert script.replies("hang") >= 1, run.explain()  # it was waiting on the model, not starting up
    assert leftovers == []
    assert locks_upstream(bench.work) == [] and run.spec_status("t1") == "open"
