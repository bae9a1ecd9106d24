"""The queue's configuration as the upstream's main says it (the runner lives there)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.config import CONFIG_NAME, QueueSettings, load_config, read_queue_settings
from harness.git.repo import GitRepo


@dataclass(frozen=True)
class QueueConfig:
    branch: str
    queue: QueueSettings


def settings_at_tip(upstream: Path, branch: str = "main") -> QueueConfig:
    """harness.yaml at the tip of ``branch`` (defaults when there is none)."""
    repo = GitRepo(upstream, env={"GIT_DIR": str(upstream)})
    tip = repo.rev_parse(f"refs/heads/{branch}")
    blob = repo.read_blobs(tip, [CONFIG_NAME]).get(CONFIG_NAME) if tip else None
    with tempfile.TemporaryDirectory(prefix="harness-queue-config-") as scratch:
        if blob is not None:
            (Path(scratch) / CONFIG_NAME).write_bytes(blob)
        config = load_config(Path(scratch))
    return QueueConfig(config.branch, read_queue_settings(config))
