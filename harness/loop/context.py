"""What every step of a loop iteration shares: the workspace, the settings, the backend,
and the little state the loop keeps between iterations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.agents.base import Backend
from harness.loop.config import AgentSettings, LoopSettings
from harness.loop.events import IterationEvent
from harness.runtime.agentproc import SessionUser
from harness.tasks.specs import TaskSpec
from harness.workspace import Workspace


@dataclass(kw_only=True)
class Ctx:
    ws: Workspace
    role: str
    agent: AgentSettings
    loop: LoopSettings
    backend: Backend
    log_dir: Path
    user: SessionUser | None
    stop_requested: Callable[[], bool]
    say: Callable[[str], None]
    # Tasks whose push the gate refused in this run: left for other agents (fresh eyes)
    # instead of being retried here forever.
    skip: set[str] = field(default_factory=set)
    reported: set[str] = field(default_factory=set)  # malformed specs already reported
    # Whether this iteration's release may carry the next claim (the loop says no on its
    # last iteration, or when the budget is spent), and the task it claimed that way.
    claim_ahead: Callable[[IterationEvent], bool] = lambda event: False
    preclaimed: TaskSpec | None = None
    session_committed: bool = False  # the iteration's session moved HEAD (made commits)
    idle_why: str = ""  # why nothing could be claimed, for the loop's waiting line
