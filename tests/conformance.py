"""What the conformance tests share: the real agent CLIs (installed by .ci/machine-setup.sh),
a work repo whose harness.yaml points the backend at a scripted model server, `harness loop`
run as a user runs it, and what it left behind (events, locks, processes)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.loop.events import IterationEvent, read_events
from harness.tasks.ops import add_task
from harness.tasks.specs import TaskSpec
from harness.workspace import open_workspace
from tests.conftest import WorkRepo, git
from tests.loophelpers import locks_upstream
from tests.modelserver import Fail, Hang, Say, Script, Shell, Step, Usage, iteration, serve

# Where .ci/machine-setup.sh installs them: npm packages under npm/, Aider in its own venv.
PREFIX = Path(os.environ.get("HARNESS_AGENTS_PREFIX", "/opt/harness-agents"))
BIN_DIRS = {
    "claude": PREFIX / "npm" / "node_modules" / ".bin",
    "codex": PREFIX / "npm" / "node_modules" / ".bin",
    "gemini": PREFIX / "npm" / "node_modules" / ".bin",
    "aider": PREFIX / "aider-venv" / "bin",
}
FAST_LOOP = {
    "session_timeout_seconds": 120,
    "rate_limit_backoff_seconds": 0.1,
    "rate_limit_backoff_max_seconds": 0.4,
    "idle_backoff_seconds": 0.1,
    "kill_grace_seconds": 2,
}


def cli_dir(name: str) -> Path:
    """The folder holding the real ``name`` CLI; the test fails (never skips) without one."""
    if (BIN_DIRS[name] / name).exists():
        return BIN_DIRS[name]
    found = shutil.which(name)
    if found:
        return Path(found).parent
    pytest.fail(
        f"the {name} CLI is not installed (looked in {BIN_DIRS[name]} and on PATH): "
        "run `bash .ci/machine-setup.sh`, which installs the pinned agent CLIs and says why when it cannot"
    )


@dataclass
class Run:
    """One `harness loop` run and what it left."""

    proc: subprocess.CompletedProcess[str]
    clone: Path
    work: WorkRepo

    @property
    def output(self) -> str:
        return self.proc.stdout + self.proc.stderr

    def events(self) -> list[IterationEvent]:
        return read_events(self.clone / "agent_logs" / "events.jsonl").events

    def outcomes(self) -> list[str]:
        return [str(e.outcome) for e in self.events()]

    def logs(self) -> str:
        return "\n".join(Path(e.log).read_text(errors="replace") for e in self.events() if e.log)

    def explain(self) -> str:
        """What to read when an assertion fails: the loop's output and the sessions' logs."""
        return f"--- harness loop (exit {self.proc.returncode})\n{self.output[-3000:]}\n--- logs\n{self.logs()[-6000:]}"

    def spec_status(self, task: str) -> str:
        return str(yaml.safe_load(self.work.upstream_file(f"tasks/{task}.yaml") or "{}").get("status") or "open")


class Bench:
    """A work repo, a clone for the agent, the model server and the environment of one test."""

    def __init__(self, work: WorkRepo, backend: str, home: Path, agent: str) -> None:
        self.work, self.backend, self.home, self.agent = work, backend, home, agent
        self.env: dict[str, str] = {"PATH": f"{cli_dir(backend)}{os.pathsep}{os.environ['PATH']}"}

    def configure(self, agent: dict[str, Any], loop: dict[str, Any] | None = None, tasks: int = 1) -> None:
        """harness.yaml's agent and loop sections, and ``tasks`` task specs, pushed upstream."""
        clone = self.work.first_clone
        config = yaml.safe_load((clone / "harness.yaml").read_text())
        config["agent"] = {"backend": self.backend, **agent}
        config["loop"] = {**FAST_LOOP, **(loop or {})}
        (clone / "harness.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        git(clone, "commit", "--quiet", "-am", "configure the agent for the conformance test")
        # harness.yaml is a protected path: the gate takes it from the lead only.
        env = {**os.environ, "HARNESS_ROLE": "lead"}
        subprocess.run(["git", "push", "--quiet", "origin", "main"], cwd=clone, env=env, check=True)
        ws = open_workspace(clone, "setup")
        for i in range(1, tasks + 1):
            body = f"Create the file out/t{i}.txt holding `t{i} done`, and commit it."
            after = (f"t{i - 1}",) if i > 1 else ()  # one at a time, in order: t1 is the loop's first pick
            add_task(ws, TaskSpec(id=f"t{i}", title=f"write out/t{i}.txt", body=body, depends_on=after))

    def loop(self, *args: str, timeout: float = 600) -> Run:
        clone = self.work.base / "clones" / self.agent
        if not clone.exists():
            self.work.clone(self.agent)
        proc = subprocess.run(
            [sys.executable, "-m", "harness", "loop", "--role", "core-dev", "--agent", self.agent, *args],
            cwd=clone,
            capture_output=True,
            text=True,
            env={**os.environ, **self.env},
            timeout=timeout,
            check=False,
        )
        return Run(proc, clone, self.work)

    def leftovers(self) -> list[str]:
        """Processes still running with this test's agent id in their environment (every
        descendant of a session inherits ``HARNESS_AGENT``)."""
        marker = f"HARNESS_AGENT={self.agent}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    found.append(f"{entry.name}: {cmdline}")
            except OSError:
                continue
        return found


@dataclass
class Landed:
    """What a session that did task ``task`` must have left upstream."""

    run: Run
    task: str

    def check(self) -> None:
        assert self.run.work.upstream_file(f"out/{self.task}.txt") == f"{self.task} done\n", self.run.explain()
        assert self.run.spec_status(self.task) == "done", self.run.explain()
        assert locks_upstream(self.run.work) == [], self.run.explain()
        # The file came in a commit the CLI made (harness's own are claims, releases, wip).
        made = self.run.work.upstream_git("log", "--format=%s", "main", "--", f"out/{self.task}.txt").splitlines()
        assert made and not any(s.startswith(("claim:", "release:", "wip:")) for s in made), made


def write_command(task: str) -> str:
    """The shell command a scripted model has the CLI run: the task's file, committed."""
    return f"mkdir -p out && printf '{task} done\\n' > out/{task}.txt && git add out && git commit -qm 'do {task}'"


def shell_then_done(task: str) -> list[Step]:
    """The model has the CLI run the task's command, then says it is done."""
    return [Shell(write_command(task), Usage(2000, 40, 500)), Say("Done.")]


def limit_then_overload(overload: int) -> list[Step]:
    """Iteration 1 answered with rate limits, iteration 2 with the vendor's overload status."""
    return [Fail(429, until=iteration(2)), Fail(overload, until=iteration(3))]


@dataclass
class Profile:
    """How one backend is run in these tests, and what it costs."""

    backend: str
    agent: dict[str, Any]  # harness.yaml's agent section, less the backend and the base URL
    env: dict[str, str]
    cost: Callable[[Usage], float]
    hang_timeout: float = 20  # above the CLI's start-up on a loaded machine
    work: Callable[[str], list[Step]] = lambda task: shell_then_done(task)
    side: Callable[[str, dict[str, Any]], bool] = lambda path, body: False
    side_text: str = "ok"
    url_suffix: str = ""  # what the vendor's base URL carries after the host (OpenAI's /v1)
    rate_limits_first: Callable[[], list[Step]] = lambda: limit_then_overload(503)
    limited_sessions: int = 2  # sessions rate_limits_first fails

    def bench(self, work: WorkRepo, home: Path, name: str) -> Bench:
        bench = Bench(work, self.backend, home, f"{self.backend}-{name[5:25].replace('_', '-')}")
        bench.env.update(self.env)
        return bench

    def script(self, steps: list[Step]) -> Script:
        return Script(steps, self.side, self.side_text)

    def configure(self, bench: Bench, url: str, loop: dict[str, Any] | None = None, tasks: int = 1) -> None:
        bench.configure({**self.agent, "base_url": url + self.url_suffix}, loop, tasks)


def lands_and_stops_on_budget(bench: Bench, profile: Profile, steps: list[Step] | None = None) -> None:
    """A session lands the CLI's commit and releases the lock; its tokens and cost are what
    the server sent; a budget the first session spends stops the loop before the second task."""
    script = profile.script(steps or profile.work("t1"))
    budget = profile.cost(script.planned()) / 2
    with serve(script) as server:
        profile.configure(bench, server.url, tasks=2)
        run = bench.loop("--max-iterations", "3", "--budget-usd", f"{budget:.8f}")
    sent = script.sent()
    assert run.proc.returncode == 0 and run.outcomes() == ["done"], run.explain()
    Landed(run, "t1").check()
    (event,) = run.events()
    assert (event.input_tokens, event.output_tokens) == (sent.all_input, sent.output), run.explain()
    assert sent.output > 0 and event.cost_usd == pytest.approx(profile.cost(sent), rel=1e-6), run.explain()
    assert "loop stopped: budget spent" in run.output, run.explain()
    assert run.spec_status("t2") == "open" and locks_upstream(bench.work) == []  # never claimed


def backs_off_and_hands_back(bench: Bench, profile: Profile) -> Run:
    """A rate limit (iteration 1) and an overload (iteration 2, or later in the same session):
    each session ends rate limited, the task goes back, the loop backs off, doubling; the
    next iteration lands it."""
    script = profile.script([*profile.rate_limits_first(), *profile.work("t1")])
    limited = profile.limited_sessions
    with serve(script) as server:
        profile.configure(bench, server.url)
        run = bench.loop("--max-iterations", str(limited + 1))
    assert run.outcomes() == ["rate-limited"] * limited + ["done"], run.explain()
    waits = [line.split()[-2] for line in run.output.splitlines() if "backing off" in line]
    assert waits == ["0.1", "0.2", "0.4"][:limited], run.explain()
    assert script.replies("fail") >= 2, run.explain()
    Landed(run, "t1").check()  # handed back twice, claimed again: not skipped for the run
    return run


def hang_times_out(bench: Bench, profile: Profile) -> None:
    """The model never answers: the session is killed at its timeout, nothing of it survives,
    the lock goes back."""
    script = profile.script([Hang()])
    with serve(script) as server:
        profile.configure(bench, server.url, {"session_timeout_seconds": profile.hang_timeout})
        run = bench.loop("--once")
        leftovers = bench.leftovers()  # while the server still holds the hung request open
    assert run.outcomes() == ["timeout"], run.explain()
    assert "timed out" in run.events()[0].session_exit
    assert script.replies("hang") >= 1, run.explain()  # it was waiting on the model, not starting up
    assert leftovers == []
    assert locks_upstream(bench.work) == [] and run.spec_status("t1") == "open"
