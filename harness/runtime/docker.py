"""The Docker fleet: one container per agent, through the Docker SDK (the only module importing it).

``DockerRuntime`` implements the ``Runtime`` protocol of runtime/base.py. ``up`` checks
everything it can before starting anything (engine reachable, image present, roles known,
memory that the host can give), so bad input starts no container. ``down`` stops with
SIGTERM first so the loops hand their locks back, then hands back whatever is still held,
then removes the containers. ``reap`` releases the locks of agents whose container is gone;
the watcher process that ``up`` starts calls it every few seconds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from harness.errors import HarnessError, UsageError
from harness.runtime import containerspec as cs
from harness.runtime import fleetrecord as fr
from harness.runtime import fleetstate as fs
from harness.runtime import process
from harness.runtime.base import AgentInfo, FleetSpec, agent_ids
from harness.runtime.capacity import Host, check_fleet_memory, parse_size
from harness.runtime.peer import SHARED_DIR, PeerResult, filter_snapshot

GONE_STATES = ("exited", "dead")
EVENTS_FILE = "/workspace/agent_logs/events.jsonl"  # the loop's default: <log dir>/events.jsonl
WATCH_INTERVAL_SECONDS = 2.0


class EngineUnavailable(HarnessError):
    """No Docker engine answers."""


@dataclass(frozen=True, kw_only=True)
class DockerOptions:
    image: str = cs.DEFAULT_IMAGE
    verify: Path | None = None  # the verifier, mounted read-only at /verify
    pids_limit: int = cs.DEFAULT_PIDS
    watch: bool = True  # start the watcher that hands back dead agents' locks
    watch_interval: float = WATCH_INTERVAL_SECONDS


def connect() -> Any:
    """A client for the engine named by DOCKER_HOST (default: the local socket), or one clear line."""
    try:
        client = docker.from_env(timeout=120)
        client.ping()
        return client
    except DockerException as exc:
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise EngineUnavailable(
            f"cannot reach the Docker engine ({reason}); set one up as docs/docker.md says "
            '("Setting up Docker"), or set DOCKER_HOST'
        ) from exc


def engine_host(client: Any) -> Host:
    info = client.info()
    return Host(int(info.get("MemTotal", 0)), int(info.get("NCPU", 1)), "the docker engine's host")


def require_image(client: Any, image: str) -> None:
    try:
        client.images.get(image)
    except ImageNotFound as exc:
        raise HarnessError(
            f"image {image} not found on the Docker engine; build it with `harness image build`"
        ) from exc


def options_from_env() -> DockerOptions:
    """Defaults a CLI without Docker-specific options can still change: $HARNESS_IMAGE, $HARNESS_VERIFY."""
    verify = os.environ.get("HARNESS_VERIFY")
    return DockerOptions(
        image=os.environ.get("HARNESS_IMAGE") or cs.DEFAULT_IMAGE, verify=Path(verify) if verify else None
    )


class DockerRuntime:
    def __init__(self, options: DockerOptions | None = None) -> None:
        self.options = options or options_from_env()
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = connect()
        return self._client

    # -- up -------------------------------------------------------------------

    def up(self, spec: FleetSpec) -> list[AgentInfo]:
        specs = self.plan_containers(spec)
        client = self.client
        require_image(client, self.options.image)
        check_fleet_memory(engine_host(client), len(specs), specs[0].memory_bytes)
        if self._containers(spec.name):
            raise HarnessError(f"fleet {spec.name} already has containers; run `harness down` first")
        records = [fs.AgentRecord(s.agent, s.role, s.index, s.name) for s in specs]
        state = fs.FleetState(
            fleet=spec.name, upstream=str(spec.upstream.resolve()), image=self.options.image, agents=records
        )
        fs.save_state(state)
        fs.supervisor_clone(spec.name, spec.upstream.resolve())
        started = []
        try:
            for item in specs:
                started.append(client.containers.run(**item.run_kwargs()))
        except APIError as exc:
            self._remove(started)
            fs.drop_state(spec.name)
            raise HarnessError(f"docker refused to start {item.name}: {_explain(exc)}") from exc
        if self.options.watch:
            fs.save_state(fs.FleetState(**{**state.__dict__, "watcher_pid": self._start_watcher(spec.name)}))
        return self.ps(spec.name)

    def plan_containers(self, spec: FleetSpec) -> list[cs.ContainerSpec]:
        """Every container's spec, validating all input before anything starts."""
        upstream = spec.upstream.resolve()
        if not (upstream / "HEAD").exists() or not (upstream / "objects").is_dir():
            raise UsageError(f"{spec.upstream}: not a bare git repository (the upstream every agent clones)")
        fs.check_roles(upstream, spec.roles)
        verify = self.options.verify.resolve() if self.options.verify else None
        if verify is not None and not verify.exists():
            raise UsageError(f"--verify: {self.options.verify} does not exist")
        memory = parse_size(spec.memory or cs.DEFAULT_MEMORY)
        cpus = spec.cpus if spec.cpus is not None else cs.DEFAULT_CPUS
        if cpus <= 0:
            raise UsageError(f"--cpus: must be > 0, got {cpus}")
        network = cs.check_network(spec.network)
        passed = cs.passed_environment(spec.pass_env)
        mounts = cs.agent_mounts(upstream, verify)
        result = []
        for position, (agent, role) in enumerate(agent_ids(spec.roles)):
            env = {
                **passed,
                "HARNESS_AGENT": agent,
                "HARNESS_ROLE": role,
                "HARNESS_FLEET": spec.name,
                "HARNESS_BACKEND": spec.backend,
                "HARNESS_PORT_BASE": str(cs.port_base(position)),
                "HARNESS_PORT_COUNT": str(cs.PORTS_PER_AGENT),
            }
            labels = {
                cs.LABEL_FLEET: spec.name,
                cs.LABEL_ROLE: role,
                cs.LABEL_AGENT: agent,
                cs.LABEL_INDEX: str(position),
            }
            result.append(
                cs.ContainerSpec(
                    name=cs.container_name(spec.name, agent),
                    agent=agent,
                    role=role,
                    index=position,
                    image=self.options.image,
                    command=spec.agent_args,
                    environment=env,
                    labels=labels,
                    mounts=mounts,
                    memory_bytes=memory,
                    nano_cpus=int(cpus * 1e9),
                    pids_limit=self.options.pids_limit,
                    network=network,
                )
            )
        return result

    def _start_watcher(self, fleet: str) -> int:
        argv = [sys.executable, "-m", "harness", "fleet-watch", fleet, "--interval", str(self.options.watch_interval)]
        # Its own session: it outlives `harness up` and the terminal's ^C, until `down` stops it.
        watcher = process.start(argv, env=dict(os.environ), output=fs.fleet_dir(fleet) / "watcher.log")
        return watcher.detach()

    # -- watching -------------------------------------------------------------

    def reap(self, fleet: str) -> list[str]:
        """Release the locks of agents whose container exited or vanished. One line per action."""
        state = fs.load_state(fleet)
        if state is None:
            return []
        running = {c.labels.get(cs.LABEL_AGENT): c.status for c in self._containers(fleet)}
        gone = {a.agent: running.get(a.agent, "removed") for a in state.agents}
        gone = {agent: status for agent, status in gone.items() if status in (*GONE_STATES, "removed")}
        if not gone:
            return []
        clone = fs.supervisor_clone(fleet, Path(state.upstream))
        lines = []
        for agent, tasks in fs.held_tasks(clone, gone).items():
            lines += fs.release_abandoned(clone, agent, tasks, f"container {gone[agent]}")
        return lines

    def watch(self, fleet: str, interval: float, log: Any = print) -> None:
        """Reap every ``interval`` seconds until the fleet's state is dropped by ``down``."""
        while fs.load_state(fleet) is not None:
            try:
                for line in self.reap(fleet):
                    log(line)
            except HarnessError as exc:  # keep watching: the next pass may succeed
                log(f"ERROR reaping {fleet}: {exc}")
            time.sleep(interval)

    # -- down / ps / logs -------------------------------------------------------

    def events(self, fleet: str) -> list[Path]:
        """Every agent's events file, copied out of its container (running or stopped) to the
        upstream (runtime/fleetrecord.py), where the copies outlive ``down``."""
        state = fs.load_state(fleet)
        if state is None:
            return []
        for container in self._containers(fleet):
            with contextlib.suppress(NotFound, APIError):
                data = fs.file_in_archive(container.get_archive(EVENTS_FILE)[0])
                if data is not None:
                    fr.save_events_copy(Path(state.upstream), container.labels.get(cs.LABEL_AGENT, "?"), data)
        return fr.events_copies(Path(state.upstream))

    def down(self, fleet: str, timeout: float = 30.0) -> list[AgentInfo]:
        containers = self._containers(fleet)
        for container in containers:
            with contextlib.suppress(NotFound):
                container.stop(timeout=int(timeout))  # SIGTERM, then SIGKILL after timeout
        self.events(fleet)  # the loops' last lines, before the containers go
        state = fs.load_state(fleet)
        if state is not None:
            # Whatever a loop could not hand back in time. An unreachable upstream must not keep
            # the containers alive: those locks then simply wait for their lease.
            with contextlib.suppress(HarnessError):
                self.reap(fleet)
        after = []
        for container in containers:
            with contextlib.suppress(NotFound):
                container.reload()
                after.append(self._info(container))
        self._remove(containers)
        if state is not None:
            fs.drop_state(fleet)  # the watcher sees this and exits
            fs.stop_watcher(state.watcher_pid)
            fs.forget_fleet(fleet)
        return after  # states once stopped, just before removal

    def ps(self, fleet: str) -> list[AgentInfo]:
        containers = self._containers(fleet)
        infos = [self._info(c) for c in containers]
        state = fs.load_state(fleet)
        if state is not None and infos:
            try:
                held = fs.held_tasks(fs.supervisor_clone(fleet, Path(state.upstream)), [i.agent for i in infos])
            except HarnessError:
                held = {}
            infos = [_with_task(i, held.get(i.agent)) for i in infos]
        infos = [
            dataclasses.replace(i, iteration=_last_iteration(c) or i.iteration)
            for i, c in zip(infos, containers, strict=True)
        ]
        return sorted(infos, key=lambda i: i.agent)

    def logs(self, fleet: str, agent: str, follow: bool = False) -> Iterator[str]:
        container = self._container(fleet, agent)
        if not follow:
            yield from container.logs().decode(errors="replace").splitlines()
            return
        buffer = b""
        for chunk in container.logs(stream=True, follow=True):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                yield line.decode(errors="replace")
        if buffer:
            yield buffer.decode(errors="replace")

    def peer(self, fleet: str, source: str, target: str) -> PeerResult:
        """Copy a filtered snapshot of ``source``'s /workspace into ``target``'s /workspace/.shared/."""
        if source == target:
            raise UsageError(f"peer: {source} cannot peer into itself")
        src, dst = self._container(fleet, source), self._container(fleet, target)
        with tempfile.SpooledTemporaryFile(max_size=32 * 1024**2) as spool:
            chunks, _ = src.get_archive("/workspace")
            for chunk in chunks:
                spool.write(chunk)
            spool.seek(0)
            data, result = filter_snapshot(spool, source)
        # Replace, never merge: files deleted at the source must vanish from the copy too.
        dst.exec_run(["rm", "-rf", f"/workspace/{SHARED_DIR}/{source}"], user="root")
        dst.exec_run(["mkdir", "-p", f"/workspace/{SHARED_DIR}"], user="root")
        if not dst.put_archive(f"/workspace/{SHARED_DIR}", data):
            raise HarnessError(f"peer: docker refused to copy the snapshot into {target}")
        return result

    # -- helpers ----------------------------------------------------------------

    def _containers(self, fleet: str) -> list[Any]:
        return list(self.client.containers.list(all=True, filters={"label": f"{cs.LABEL_FLEET}={fleet}"}))

    def _container(self, fleet: str, agent: str) -> Any:
        for container in self._containers(fleet):
            if container.labels.get(cs.LABEL_AGENT) == agent:
                return container
        known = ", ".join(sorted(c.labels.get(cs.LABEL_AGENT, "?") for c in self._containers(fleet))) or "none"
        raise UsageError(f"no agent {agent!r} in fleet {fleet} (agents: {known})")

    def _remove(self, containers: list[Any]) -> None:
        for container in containers:
            with contextlib.suppress(NotFound):
                container.remove(force=True, v=True)  # v: anonymous volumes go too

    @staticmethod
    def _info(container: Any) -> AgentInfo:
        labels = container.labels
        started = container.attrs.get("State", {}).get("StartedAt", "")
        return AgentInfo(
            agent=labels.get(cs.LABEL_AGENT, container.name),
            role=labels.get(cs.LABEL_ROLE, "?"),
            state=container.status,
            uptime_seconds=_uptime(started) if container.status == "running" else None,
            handle=container.short_id,
        )


def _with_task(info: AgentInfo, tasks: list[str] | None) -> AgentInfo:
    return dataclasses.replace(info, task=",".join(tasks)) if tasks else info


def _last_iteration(container: Any) -> int | None:
    """The loop's iteration count, from the last line of its events file (agent_logs/events.jsonl)."""
    import json

    from harness.loop.events import IterationEvent

    if container.status != "running":
        return None
    try:
        result = container.exec_run(["tail", "-n", "1", EVENTS_FILE], user="root")
        if result.exit_code != 0:
            return None
        return IterationEvent.from_json(json.loads(result.output.decode())).iteration
    except (APIError, ValueError, TypeError):
        return None


def _uptime(started_at: str) -> float | None:
    from datetime import datetime

    try:
        # Docker gives nanoseconds; fromisoformat takes at most microseconds.
        head, _, frac = started_at.rstrip("Z").partition(".")
        moment = datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00")
    except ValueError:
        return None
    return max(0.0, time.time() - moment.timestamp())


def _explain(exc: APIError) -> str:
    return str(getattr(exc, "explanation", None) or exc).splitlines()[0]


# -- images (harness/runtime/image.py decides what to build; the SDK calls live here) --------------


def import_rootfs(tarball: Path, tag: str) -> str:
    """``docker import``: a root filesystem tarball becomes an image; returns its id."""
    repository, _, version = tag.partition(":")
    client = connect()
    client.api.import_image_from_file(str(tarball), repository=repository, tag=version or "latest")
    return str(client.images.get(tag).id)  # the import's own answer is JSON progress, not the id


def image_exists(tag: str) -> bool:
    try:
        connect().images.get(tag)
        return True
    except ImageNotFound:
        return False
