"""Shared helpers for the loop tests: builtin task specs, short loop settings, upstream reads."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from harness.loop.config import AgentSettings, LoopSettings
from harness.loop.runner import LoopOptions, LoopSummary, run_loop
from harness.tasks.ops import add_task
from harness.tasks.specs import TaskSpec
from harness.workspace import Workspace
from tests.conftest import WorkRepo, git

FAST = LoopSettings(
    session_timeout_seconds=30,
    idle_backoff_seconds=0.05,
    idle_backoff_max_seconds=0.2,
    rate_limit_backoff_seconds=0.05,
    rate_limit_backoff_max_seconds=0.2,
    kill_grace_seconds=1,
)


def write_task(ws: Workspace, task: str, path: str, text: str, **extra: object) -> None:
    """A spec the builtin agent can do: write ``text`` to ``path``."""
    body = f"@write {path}\n{text}\n@end\n"
    add_task(ws, TaskSpec(id=task, title=f"do {task}", body=body, **extra))  # type: ignore[arg-type]


def run(
    ws: Workspace,
    backend: str = "builtin",
    command: str = "",
    lines: list[str] | None = None,
    **options: object,
) -> LoopSummary:
    settings = options.pop("settings", FAST)
    assert isinstance(settings, LoopSettings)
    opts = LoopOptions(
        role="core-dev",
        agent=AgentSettings(backend=backend, command=command),
        settings=settings,
        **options,  # type: ignore[arg-type]
    )
    out = lines if lines is not None else []
    return run_loop(ws, opts, out.append)


def locks_upstream(work: WorkRepo) -> list[str]:
    text = work.upstream_git("ls-tree", "--name-only", "main", "current_tasks/")
    return [p for p in text.splitlines() if p.endswith(".lock")]


def parked_refs(work: WorkRepo) -> list[str]:
    return work.upstream_git("for-each-ref", "--format=%(refname)", "refs/harness/parked/").split()


def short(settings: LoopSettings, **changes: object) -> LoopSettings:
    return replace(settings, **changes)  # type: ignore[arg-type]


def script(tmp: Path, name: str, text: str) -> str:
    path = tmp / name
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(0o755)
    return str(path)


OTHER_UID = 300000 + os.getpid() % 100000  # a uid nothing else on this machine runs as


@contextmanager
def clone_another_user_can_enter(work: WorkRepo, name: str) -> Iterator[Path]:
    """A clone outside pytest's private (0700) tmp dirs, so a session run as OTHER_UID can work in it."""
    base = Path(os.environ.get("TMPDIR", "/tmp")) / f"harness-{name}-{os.getpid()}"
    base.mkdir(mode=0o755)
    try:
        clone = base / "clone"
        git(base, "clone", "--quiet", str(work.upstream), str(clone))
        yield clone
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)
