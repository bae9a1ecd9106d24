"""This clone's private record of its claims, kept in ``.git/harness/claims/``.

A record is written *before* a claim is pushed (state ``pending``) and turned ``held``
once the nonce is confirmed at the upstream tip. A claimer killed mid-push leaves a
``pending`` record behind; the next command reconciles it by looking for the nonce at the
upstream tip — never by guessing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

PENDING = "pending"
HELD = "held"


@dataclass(frozen=True)
class ClaimRecord:
    task: str
    agent: str
    nonce: str
    state: str


def _dir(state_dir: Path) -> Path:
    return state_dir / "claims"


def write_record(state_dir: Path, record: ClaimRecord) -> None:
    folder = _dir(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{record.task}.tmp{os.getpid()}"
    tmp.write_text(yaml.safe_dump(record.__dict__, sort_keys=False), encoding="utf-8")
    os.replace(tmp, folder / f"{record.task}.yaml")  # atomic: a kill never leaves half a record


def read_record(state_dir: Path, task: str) -> ClaimRecord | None:
    path = _dir(state_dir) / f"{task}.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return ClaimRecord(str(data["task"]), str(data["agent"]), str(data["nonce"]), str(data["state"]))
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None


def all_records(state_dir: Path) -> list[ClaimRecord]:
    folder = _dir(state_dir)
    if not folder.is_dir():
        return []
    records = (read_record(state_dir, p.stem) for p in sorted(folder.glob("*.yaml")))
    return [r for r in records if r is not None]


def drop_record(state_dir: Path, task: str) -> None:
    (_dir(state_dir) / f"{task}.yaml").unlink(missing_ok=True)
