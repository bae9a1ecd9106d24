"""The local-process fleet: one ``harness loop`` process per agent, each with its own clone
(forked from one launcher that imported the loop once: ``launcher.py``, started as
``python -m harness.cli.launcher``, a process of its own: the runtime never imports the CLI).

For machines without Docker (and for ``harness demo``). Layout of a fleet directory::

    <fleet_dir>/fleet.json            who runs: agent, role, pid, clone, log, events, stop file
    <fleet_dir>/<agent>/clone/        the agent's clone of the upstream
    <fleet_dir>/<agent>/loop.log      the loop's own output
    <fleet_dir>/<agent>/logs/         session logs (agent_<short-sha>.log)
    <fleet_dir>/<agent>/events.jsonl  one line per iteration

The default fleet directory is ``$XDG_STATE_HOME/harness/local/<fleet>``. Loops start in
their own sessions, so ``harness up`` can exit and the terminal's ^C does not reach them.
``down`` touches each stop file, sends SIGTERM (the loop hands its lock back), waits, then
SIGKILLs what is left and hands back any lock a killed loop still held. This runtime is not
a sandbox: the loops run as the current user with its environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from harness.errors import HarnessError
from harness.git.repo import GitRepo
from harness.runtime import process
from harness.runtime.base import AgentInfo, FleetSpec, agent_ids
from harness.runtime.fleetstate import check_roles

FLEET_FILE = "fleet.json"
LAUNCH_TIMEOUT = 300.0  # from "start these loops" to their pids: imports and forks, on a busy machine


@dataclass(frozen=True, kw_only=True)
class LocalAgent:
    agent: str
    role: str
    pid: int
    started_at: float
    clone: str
    log: str
    events: str
    stop: str


def state_root() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "harness" / "local"


class LocalRuntime:
    def __init__(self, root: Path | None = None, directory: Path | None = None) -> None:
        self.root = root or state_root()
        self.directory = directory  # the fleet directory, when the fleet record names it

    # -- where fleets live ---------------------------------------------------------

    def fleet_dir(self, fleet: str) -> Path:
        if self.directory is not None:
            return self.directory
        pointer = self.root / f"{fleet}.path"
        return Path(pointer.read_text().strip()) if pointer.exists() else self.root / fleet

    def _agents(self, fleet: str) -> list[LocalAgent]:
        path = self.fleet_dir(fleet) / FLEET_FILE
        if not path.exists():
            raise HarnessError(f"no local fleet named {fleet!r} (looked for {path}); start one with `harness up`")
        return self._agents_at(path.parent)

    # -- the protocol ----------------------------------------------------------------

    def up(self, spec: FleetSpec) -> list[AgentInfo]:
        directory = (spec.fleet_dir or self.root / spec.name).resolve()
        if (directory / FLEET_FILE).exists() and any(is_running(a.pid) for a in self._agents_at(directory)):
            raise HarnessError(f"fleet {spec.name} is already running in {directory}; run `harness down` first")
        if not spec.upstream.exists():
            raise HarnessError(f"{spec.upstream}: no such upstream; pass --upstream PATH or run in a clone")
        check_roles(spec.upstream, spec.roles)  # as the Docker runtime does: a typo starts no loop
        directory.mkdir(parents=True, exist_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        if directory != self.root / spec.name:
            (self.root / f"{spec.name}.path").write_text(str(directory))
        roster = agent_ids(spec.roles)
        # The launcher imports the loop while the clones are made, and starts no loop before
        # every clone exists (a loop importing on a busy core slowed the clones after it).
        launcher = _start_launcher()
        try:
            for agent, _ in roster:
                _make_clone(spec.upstream, directory / agent)
            plans = [self._plan(spec, directory, agent, role) for agent, role in roster]
            agents = _launch(launcher, plans)
        finally:
            launcher.stop(grace=0)  # set-up failed before it was told what to start
            launcher.close()
        data = {"fleet": spec.name, "upstream": str(spec.upstream.resolve()), "agents": [asdict(a) for a in agents]}
        tmp = directory / f".{FLEET_FILE}.tmp"
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(directory / FLEET_FILE)
        return self.ps(spec.name)

    def down(self, fleet: str, timeout: float = 30.0) -> list[AgentInfo]:
        agents = self._agents(fleet)
        for agent in agents:
            Path(agent.stop).touch()
            if is_running(agent.pid):
                process.signal_process(agent.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while any(is_running(a.pid) for a in agents) and time.monotonic() < deadline:
            time.sleep(0.1)
        for agent in agents:
            if is_running(agent.pid):
                process.signal_group(agent.pid, signal.SIGKILL)  # each loop leads its own group
            _hand_back(agent)  # killed, or gone with a lock it meant to hand back later: no-op if none
        return self.ps(fleet)

    def ps(self, fleet: str) -> list[AgentInfo]:
        return [_info(a) for a in self._agents(fleet)]

    def events(self, fleet: str) -> list[Path]:
        """Every agent's events file (one line per iteration), present or not yet."""
        return [Path(a.events) for a in self._agents(fleet)]

    def logs(self, fleet: str, agent: str, follow: bool = False) -> Iterator[str]:
        match = [a for a in self._agents(fleet) if a.agent == agent]
        if not match:
            raise HarnessError(f"fleet {fleet} has no agent {agent!r}; see `harness ps`")
        record = match[0]
        with open(record.log, encoding="utf-8", errors="replace") as handle:
            while True:
                line = handle.readline()
                if line:
                    yield line.rstrip("\n")
                elif follow and is_running(record.pid):
                    time.sleep(0.2)
                else:
                    return

    # -- helpers ---------------------------------------------------------------------

    def _agents_at(self, directory: Path) -> list[LocalAgent]:
        data = json.loads((directory / FLEET_FILE).read_text())
        return [LocalAgent(**a) for a in data["agents"]]

    def _plan(self, spec: FleetSpec, directory: Path, agent: str, role: str) -> tuple[LocalAgent, dict[str, object]]:
        """The agent's record (pid to come) and what the launcher needs to start its loop."""
        home = directory / agent
        clone = home / "clone"
        stop = home / "stop"
        stop.unlink(missing_ok=True)
        log, events = home / "loop.log", home / "events.jsonl"
        args = ["loop", "--repo", str(clone), "--agent", agent, "--role", role, "--backend", spec.backend]
        args += ["--log-dir", str(home / "logs"), "--events", str(events), "--stop-file", str(stop), *spec.agent_args]
        env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
        env["HARNESS_AGENT"] = agent
        record = LocalAgent(
            agent=agent,
            role=role,
            pid=0,
            started_at=0.0,
            clone=str(clone),
            log=str(log),
            events=str(events),
            stop=str(stop),
        )
        return record, {"args": args, "cwd": str(clone), "env": env, "log": str(log), "backend": spec.backend}


def _start_launcher() -> process.Child:
    """The process that imports the loop once and forks every loop (launcher.py; its entry
    point is in cli/ because it runs the ``harness loop`` command line). Its working
    directory is the folder holding this package, so a ``harness`` directory in the caller's
    directory (an agent's clone of harness itself) cannot shadow it."""
    argv = [sys.executable, "-m", "harness.cli.launcher"]
    return process.start(argv, Path(__file__).resolve().parents[2], env=dict(os.environ), stdin_pipe=True)


def _launch(launcher: process.Child, plans: list[tuple[LocalAgent, dict[str, object]]]) -> list[LocalAgent]:
    launcher.send(json.dumps([launch for _, launch in plans]).encode())
    # No group kill after it exits: each loop leaves the launcher's group with setsid() right
    # after its fork, and one caught before that must not die with the launcher's group.
    done = launcher.finish(LAUNCH_TIMEOUT, grace=0, leftovers=False)
    pids = _pids(done.output) if done.returncode == 0 else None
    if pids is None or len(pids) != len(plans):
        why = done.last_line() or process.describe_exit(done.returncode, LAUNCH_TIMEOUT)
        raise HarnessError(f"cannot start the loops: {why}")
    now = time.time()
    return [replace(record, pid=pid, started_at=now) for (record, _), pid in zip(plans, pids, strict=True)]


def _pids(output: str) -> list[int] | None:
    """The launcher's last line is the loops' pids as JSON; anything a loop printed before it
    took its own log (a failed set-up) may follow it, so look from the end."""
    for line in reversed(output.splitlines()):
        with contextlib.suppress(ValueError):
            pids = json.loads(line)
            if isinstance(pids, list) and all(isinstance(pid, int) for pid in pids):
                return pids
    return None


def _make_clone(upstream: Path, home: Path) -> None:
    """``home/clone``, unless it is there already (a fleet restarted in the same place).

    ``--shared``: the clone borrows the upstream's objects, so "fetch main" becomes a ref
    read (upstreamref.py) and making the clone copies nothing.
    """
    clone = home / "clone"
    home.mkdir(parents=True, exist_ok=True)
    if not (clone / ".git").exists():
        GitRepo(home).run("clone", "--quiet", "--shared", str(upstream.resolve()), str(clone))


def is_running(pid: int) -> bool:
    """Running (not a zombie); reaps our own exited children so they stop looking alive."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _hand_back(agent: LocalAgent) -> None:
    """A loop we had to SIGKILL, or one that stopped between a failed iteration and its
    recovery, may still hold a lock: hand it back in its name."""
    from harness.locks import records
    from harness.locks.release import hand_back
    from harness.workspace import open_workspace

    try:
        ws = open_workspace(Path(agent.clone), agent.agent)
        for record in records.all_records(ws.state_dir):
            hand_back(ws, record.task, "its loop was stopped by harness down")
    except HarnessError:
        pass  # unreachable: the lease and the reclaim rule take over


def _info(agent: LocalAgent) -> AgentInfo:
    from harness.locks import records
    from harness.loop.events import IterationOutcome, read_events

    alive = is_running(agent.pid)
    events = read_events(Path(agent.events)).events
    # The task it holds now: held claims only (a pending one may still lose its race).
    claims = records.all_records(Path(agent.clone) / ".git" / "harness")
    held = [r.task for r in claims if r.state is records.ClaimState.HELD]
    return AgentInfo(
        agent=agent.agent,
        role=agent.role,
        state="running" if alive else "exited",
        task=",".join(held) if held and alive else None,
        iteration=len(events),
        uptime_seconds=time.time() - agent.started_at if alive else None,
        handle=str(agent.pid),
        extra={
            "clone": agent.clone,
            "log": agent.log,
            "done": str(sum(e.outcome == IterationOutcome.DONE for e in events)),
        },
    )
