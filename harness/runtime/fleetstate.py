"""A Docker fleet's host-side state, and releasing the locks of agents whose container is gone.

The containers are the truth about who runs; this small JSON file remembers who *should*
run (so an agent whose container was removed outright is still noticed), where the upstream
is, and the pid of the watcher process ``harness up`` started. It lives under
``$XDG_STATE_HOME/harness/fleets/<fleet>/`` (default ``~/.local/state``), beside the
supervisor clone the fleet uses to hand back a dead agent's locks.

Reaping (issue 5, "dead agents do not hold locks"): a lock whose holder's container has exited
or vanished is released as *abandoned* at once, in that agent's name, instead of waiting for
its lease to run out. The release goes through the ordinary protocol (``release.release``),
so it is fenced like any other: if the lock was already reclaimed, nothing is touched.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import HarnessError, UsageError
from harness.git.repo import GitRepo
from harness.runtime import process

if TYPE_CHECKING:
    from harness.config import Config

STATE_FILE = "state.json"


@dataclass(frozen=True)
class AgentRecord:
    agent: str
    role: str
    index: int
    container: str  # container name


@dataclass(frozen=True, kw_only=True)
class FleetState:
    fleet: str
    upstream: str
    image: str
    agents: list[AgentRecord] = field(default_factory=list)
    watcher_pid: int | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def state_root() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "harness" / "fleets"


def fleet_dir(fleet: str) -> Path:
    return state_root() / fleet


def save_state(state: FleetState) -> Path:
    folder = fleet_dir(state.fleet)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(state.to_json(), encoding="utf-8")
    tmp.replace(path)  # atomic: the watcher may read it at any moment
    return path


def load_state(fleet: str) -> FleetState | None:
    path = fleet_dir(fleet) / STATE_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        agents = [AgentRecord(**a) for a in data.pop("agents", [])]
        return FleetState(agents=agents, **data)
    except (ValueError, TypeError) as exc:
        raise HarnessError(f"{path}: unreadable fleet state ({exc}); remove it and run `harness down` again") from exc


def drop_state(fleet: str) -> None:
    path = fleet_dir(fleet) / STATE_FILE
    path.unlink(missing_ok=True)


def forget_fleet(fleet: str) -> None:
    """Remove the fleet's host-side directory (state, supervisor clone, watcher log)."""
    shutil.rmtree(fleet_dir(fleet), ignore_errors=True)


def file_in_archive(archive: Iterable[bytes]) -> bytes | None:
    """The one file in a tar stream (what ``get_archive`` of a file gives)."""
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(b"".join(archive))) as tar:
        member = next((m for m in tar.getmembers() if m.isfile()), None)
        source = tar.extractfile(member) if member is not None else None
        return source.read() if source is not None else None


def stop_watcher(pid: int | None) -> None:
    """SIGTERM the watcher ``up`` started, if that pid is still our watcher (pids get reused)."""
    if pid is None:
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return
    if b"fleet-watch" in cmdline:
        process.signal_process(pid, signal.SIGTERM)


def supervisor_clone(fleet: str, upstream: Path) -> Path:
    """A host-side clone, made once, from which the fleet releases dead agents' locks."""
    path = fleet_dir(fleet) / "supervisor"
    if not (path / ".git").exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        GitRepo(path.parent).run("clone", "--quiet", str(upstream), str(path))
    return path


def held_tasks(clone: Path, agents: Iterable[str]) -> dict[str, list[str]]:
    """Tasks whose lock at the upstream tip names one of ``agents``: agent -> tasks."""
    from harness.git.publish import fetch_main
    from harness.locks.snapshot import read_snapshot
    from harness.workspace import open_workspace

    wanted = set(agents)
    ws = open_workspace(clone, "harness-fleet")
    snap = read_snapshot(ws.repo, fetch_main(ws.repo, ws.config.branch))
    held: dict[str, list[str]] = {}
    for task, entry in sorted(snap.entries.items()):
        if entry.lock is not None and entry.lock.agent in wanted:
            held.setdefault(entry.lock.agent, []).append(task)
    return held


def release_abandoned(clone: Path, agent: str, tasks: Iterable[str], why: str) -> list[str]:
    """Hand ``agent``'s locks back (abandoned); returns one line per task for the log."""
    from harness.locks.release import hand_back
    from harness.workspace import open_workspace

    ws = open_workspace(clone, agent)
    lines = []
    for task in tasks:
        back = hand_back(ws, task, why)
        if back.commit is None:  # reclaimed or released meanwhile: nothing of ours to hand back
            lines.append(f"skipped {task} of {agent}: {back.fenced}")
        else:
            lines.append(f"released {task} of {agent} as abandoned ({why}) at {back.commit[:12]}")
    return lines


def check_roles(upstream: Path, roles: Iterable[str]) -> None:
    """Roles must be known to the work repo, by the rule the loop applies (config.known_roles)."""
    known = known_roles(upstream)
    unknown = [r for r in roles if r not in known]
    if unknown:
        raise UsageError(f"--roles: unknown role {unknown[0]!r}; known roles: {', '.join(sorted(known))}")


def known_roles(upstream: Path) -> set[str]:
    """config.known_roles as upstream main says it: harness.yaml's roles, the default ones, and
    any with a prompt file under prompts/ (a loop would accept exactly these)."""
    from harness.config import known_roles as roles_of

    repo = GitRepo(upstream)
    prompts = repo.run("ls-tree", "--name-only", "main", "prompts/", check=False).stdout.decode().split()
    return roles_of(upstream_config(upstream)) | {Path(p).stem for p in prompts if p.endswith(".md")}


def upstream_config(upstream: Path) -> Config:
    """harness.yaml as upstream main has it: what every agent's clone will read."""
    from harness.config import CONFIG_NAME, parse_config

    text = GitRepo(upstream).run("show", f"main:{CONFIG_NAME}", check=False)
    return parse_config(text.stdout if text.returncode == 0 else None, f"{upstream}:main:{CONFIG_NAME}")


def configured_backend(upstream: Path) -> str:
    """``agent.backend`` of upstream main's harness.yaml (the loop's default when unset)."""
    from harness.loop.config import read_agent_settings

    return read_agent_settings(upstream_config(upstream)).backend
