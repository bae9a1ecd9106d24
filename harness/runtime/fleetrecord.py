"""Which fleet works on a work repo: ``<upstream>/harness/fleet.json``, kept with the upstream.

``harness up`` writes it; ``down``, ``ps``, ``logs``, ``top``, ``history`` and ``report`` read
it from any clone of the work repo, so they find the fleet whatever runtime started it and
wherever its clones are (docs/loop.md, "Where a fleet is recorded"). It names the runtime,
the fleet and, for a local fleet, the directory holding the agents' clones, logs and events.

Fleets are named per work repo: ``<repo>-<6 hex of the upstream's path>`` (``proj-3f2a1c``
for ``~/proj-upstream.git``), so two projects never share a fleet, its containers or its
directory, and a person who never types ``--name`` never needs to.

The file is beside the gate's baselines: in no tree and behind no ref, so no push changes it.
An upstream on another machine has no record here; the commands then take ``--name`` (and
``--runtime``) as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.errors import ConfigError

RECORD = Path("harness") / "fleet.json"
EVENTS = Path("harness") / "fleet-events"  # a Docker fleet's events files, copied out of its containers
RUNTIMES = ("local", "docker")


@dataclass(frozen=True, kw_only=True)
class FleetRecord:
    name: str
    runtime: str  # local | docker
    upstream: str
    fleet_dir: str | None = None  # local: the agents' clones, logs and events
    backend: str = ""
    roles: dict[str, int] = field(default_factory=dict)
    started_at: float = 0.0


def default_name(upstream: Path) -> str:
    """``proj-3f2a1c`` for ``/home/me/proj-upstream.git``: the work repo's name, made unique
    by its upstream's path, in the characters container names allow."""
    path = upstream.resolve()
    stem = re.sub(r"(-upstream)?(\.git)?$", "", path.name.lower())
    stem = re.sub(r"[^a-z0-9-]+", "-", stem).strip("-")[:40] or "fleet"
    return f"{stem}-{hashlib.sha1(str(path).encode()).hexdigest()[:6]}"


def record_path(upstream: Path) -> Path:
    return upstream / RECORD


def save_record(upstream: Path, record: FleetRecord) -> Path:
    path = record_path(upstream)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(asdict(record), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # atomic: a reader never sees half a record
    return path


def load_record(upstream: Path) -> FleetRecord | None:
    path = record_path(upstream)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        record = FleetRecord(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: unreadable fleet record ({exc}); delete it and run `harness up` again") from exc
    if record.runtime not in RUNTIMES or not record.name:
        raise ConfigError(f"{path}: fleet record without a known runtime or name; delete it and run `harness up` again")
    return record


def save_events_copy(upstream: Path, agent: str, data: bytes) -> Path:
    """Keep a copy of an agent's events file with the upstream (a container's is gone after
    ``down``; ``history`` and ``report`` still read it)."""
    path = upstream / EVENTS / f"{agent}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def events_copies(upstream: Path) -> list[Path]:
    return sorted((upstream / EVENTS).glob("*.jsonl"))
