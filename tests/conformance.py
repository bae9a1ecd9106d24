"""What the conformance tests share: the real agent CLIs (installed by .ci/machine-setup.sh),
a work repo whose harness.yaml points the backend at a scripted model server, `harness loop`
run as a user runs it, and what it left behind (events, locks, processes)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.loop.events import read_events
from harness.tasks.ops import add_task
from harness.tasks.specs import TaskSpec
from harness.workspace import open_workspace
from tests.conftest import WorkRepo, git
from tests.loophelpers import locks_upstream

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

    def events(self) -> list[dict[str, Any]]:
        return read_events(self.clone / "agent_logs" / "events.jsonl")

    def outcomes(self) -> list[str]:
        return [str(e["outcome"]) for e in self.events()]

    def logs(self) -> str:
        return "\n".join(Path(e["log"]).read_text(errors="replace") for e in self.events() if e.get("log"))

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
            add_task(ws, TaskSpec(id=f"t{i}", title=f"write out/t{i}.txt", body=body))

    def loop(self, *args: str, timeout: float = 600) -> Run:
        clone = self.work.clone(self.agent)
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
        authors = self.run.work.upstream_git("log", "--format=%an %s", "main").splitlines()
        assert any(line.startswith(f"{self.run.clone.name} ") for line in authors), authors  # the CLI's own commit


def write_command(task: str) -> str:
    """The shell command a scripted model has the CLI run: the task's file, committed."""
    return f"mkdir -p out && printf '{task} done\\n' > out/{task}.txt && git add out && git commit -qm 'do {task}'"
