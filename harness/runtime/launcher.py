"""Starting a local fleet's loops from one warm interpreter.

    python -m harness.runtime.launcher < loops.json      prints the loops' pids as JSON

``harness up --runtime local`` used to start one ``python -m harness loop`` per agent, and
each imported the loop's modules by itself: 8 interpreters importing on 2 cores kept the
fleet benchmark's last loop from its first iteration for ~1.2 s (a 50-agent fleet on a small
machine would spend ~10 CPU-seconds just importing). This process imports them once, then
forks one child per loop. Each child becomes a session leader (so ``harness down`` can signal
its whole group, as before), points its stdio at its log, takes its working directory and
environment, and runs the same ``harness loop`` command line in-process. The launcher exits
as soon as it has printed the pids; the loops carry on as orphans of it, like daemons.

The launcher is a fresh, single-threaded process on purpose: forking the caller instead
(the CLI, a test runner with I/O threads) could copy a lock held by another thread into the
child, and with it a deadlock.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import sys
import traceback
from typing import Any

from harness.cli.main import run

# What a loop imports before its first iteration (measured with -X importtime).
PRELOAD = ("harness.cli.main", "harness.cli.loop", "harness.loop.runner", "harness.agents.base")


def main() -> int:
    # Import first, then read what to start: `harness up` makes the clones meanwhile.
    for name in PRELOAD:
        importlib.import_module(name)
    loops: list[dict[str, Any]] = json.load(sys.stdin)
    for backend in {loop["backend"] for loop in loops}:
        importlib.import_module(f"harness.agents.{backend}")
    gc.freeze()  # the children's collections skip what we imported: fewer copy-on-write faults
    sys.stdout.flush()
    pids = [_fork_loop(loop) for loop in loops]
    print(json.dumps(pids), flush=True)
    return 0


def _fork_loop(loop: dict[str, Any]) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        _become_loop(loop)
        code = run(list(loop["args"]))
    except BaseException:  # set-up failed: say why in the log, never return into the launcher
        traceback.print_exc()
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
    finally:
        os._exit(code)


def _become_loop(loop: dict[str, Any]) -> None:
    os.setsid()
    log = os.open(loop["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the launcher's pipes must not stay open in the loop
    os.chdir(loop["cwd"])
    os.environ.clear()
    os.environ.update(loop["env"])
    sys.argv = ["harness", *loop["args"]]


if __name__ == "__main__":
    sys.exit(main())
