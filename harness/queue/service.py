"""The queue runner as a background service: started by ``harness up`` when harness.yaml turns
the queue on, stopped by ``harness down``. It runs beside the upstream (this machine), in its
own session, with its log in ``<upstream>/harness/queue/runner.log``. ``--wait`` makes a second
``up`` harmless: its runner waits while the first one serves."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from harness.queue.runner import state_dir
from harness.queue.settings import settings_at_tip
from harness.runtime import process


def runner_log(upstream: Path) -> Path:
    return state_dir(upstream) / "runner.log"


def start_runner(upstream: Path) -> int | None:
    """Start a runner for ``upstream`` if its main turns the queue on; its pid, else None."""
    if not settings_at_tip(upstream).queue.enabled:
        return None
    state_dir(upstream).mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "harness", "queue", "run", "--upstream", str(upstream), "--wait"]
    child = process.start(argv, cwd=upstream, env=dict(os.environ), output=runner_log(upstream))
    return child.detach()


def serving_pid(upstream: Path) -> int | None:
    """The pid of the runner serving ``upstream`` now (it holds runner.lock), else None."""
    import fcntl

    path = state_dir(upstream) / "runner.lock"
    try:
        with path.open("r") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                text = handle.read().strip()
                return int(text) if text.isdigit() else None
            return None  # nobody holds it
    except FileNotFoundError:
        return None


def stop_runner(upstream: Path) -> int | None:
    """SIGTERM the serving runner (it finishes nothing half-way: see runner.py); its pid."""
    pid = serving_pid(upstream)
    if pid is not None:
        process.signal_process(pid, signal.SIGTERM)
    return pid
