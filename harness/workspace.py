"""The clone a command works in: its repository, the agent acting, and the config."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from harness.config import Config, load_config
from harness.errors import HarnessError, UsageError
from harness.git.repo import GitRepo

AGENT_ID_MAX = 100


def default_agent() -> str:
    """``$HARNESS_AGENT``, else ``<host>-<pid>`` so every process is traceable."""
    return os.environ.get("HARNESS_AGENT") or f"{os.uname().nodename}-{os.getpid()}"


def validate_agent_id(agent: str) -> str:
    allowed = all(ch.isalnum() or ch in "._-" for ch in agent)
    if not agent or len(agent) > AGENT_ID_MAX or not allowed or agent[0] in ".-":
        raise UsageError(
            f"invalid agent id {agent!r} (--agent or $HARNESS_AGENT): use letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit (at most {AGENT_ID_MAX})"
        )
    return agent


@dataclass(frozen=True)
class Workspace:
    root: Path
    repo: GitRepo
    agent: str
    config: Config

    @property
    def state_dir(self) -> Path:
        """Per-clone private state (claim records): inside .git, never committed."""
        return self.root / ".git" / "harness"


def open_workspace(path: Path, agent: str | None = None) -> Workspace:
    repo = GitRepo(path)
    proc = repo.run("rev-parse", "--show-toplevel", check=False)
    if proc.returncode != 0:
        raise HarnessError(f"{path}: not inside a git clone; run `harness init {path}` or pass --repo CLONE")
    root = Path(proc.stdout.decode().strip())
    return Workspace(
        root=root,
        repo=GitRepo(root),
        agent=validate_agent_id(default_agent() if agent is None else agent),  # --agent "" is an error
        config=load_config(root),
    )
