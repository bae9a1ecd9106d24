"""This clone's private record of its claims, kept in ``.git/harness/claims/``.

A record is written *before* a claim is pushed (state ``pending``) and turned ``held``
once the nonce is confirmed at the upstream tip. A claimer killed mid-push leaves a
``pending`` record behind; the next command reconciles it by looking for the nonce at the
upstream tip — never by guessing. Records are JSON: every claim reads all of them, and
the stdlib parses JSON ~50× faster than PyYAML's pure-Python loader.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

_SUFFIX = ".json"


class ClaimState(StrEnum):
    PENDING = "pending"  # written before the claim's push; the nonce is not confirmed yet
    HELD = "held"  # the nonce was found at the upstream tip


@dataclass(frozen=True)
class ClaimRecord:
    task: str
    agent: str
    nonce: str
    state: ClaimState


def _dir(state_dir: Path) -> Path:
    return state_dir / "claims"


def write_record(state_dir: Path, record: ClaimRecord) -> None:
    folder = _dir(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{record.task}.tmp{os.getpid()}"
    tmp.write_text(json.dumps(asdict(record)), encoding="utf-8")
    os.replace(tmp, folder / f"{record.task}{_SUFFIX}")  # atomic: a kill never leaves half a record


def read_record(state_dir: Path, task: str) -> ClaimRecord | None:
    path = _dir(state_dir) / f"{task}{_SUFFIX}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ClaimRecord(str(data["task"]), str(data["agent"]), str(data["nonce"]), ClaimState(data["state"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def all_records(state_dir: Path) -> list[ClaimRecord]:
    folder = _dir(state_dir)
    if not folder.is_dir():
        return []
    records = (read_record(state_dir, p.stem) for p in sorted(folder.glob(f"*{_SUFFIX}")))
    return [r for r in records if r is not None]


def drop_record(state_dir: Path, task: str) -> None:
    (_dir(state_dir) / f"{task}{_SUFFIX}").unlink(missing_ok=True)
