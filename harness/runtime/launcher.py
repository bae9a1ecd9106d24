"""Forking a local fleet's loops from one warm interpreter.

``harness up --runtime local`` used to start one ``python -m harness loop`` per agent, and
each imported the loop's modules by itself: 8 interpreters importing on 2 cores kept the
fleet benchmark's last loop from its first iteration for ~1.2 s (a 50-agent fleet on a small
machine would spend ~10 CPU-seconds just importing). The launcher process
(``python -m harness.cli.launcher``, the entry point that knows the CLI) imports them once,
then forks one child per loop here. Each child becomes a session leader (so ``harness down``
can signal its whole group, as before), points its stdio at its log, takes its working
directory and environment, and runs the ``harness loop`` command line it was given through
the ``run`` it is handed (the CLI's). The launcher exits as soon as it has printed the pids;
the loops carry on as orphans of it, like daemons.

The launcher is a fresh, single-threaded process on purpose: forking the caller instead
(the CLI, a test runner with I/O threads) could copy a lock held by another thread into the
child, and with it a deadlock. This module never imports the CLI: the runtime is core.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Iterable
from typing import Any

# What a child does with its loop's command line: returns the exit code (harness.cli.main.run).
RunArgs = Callable[[list[str]], int]


def preload(modules: Iterable[str]) -> None:
    """Import, once for all the loops, what each would import by itself."""
    for name in modules:
        importlib.import_module(name)


def backend_modules(loops: list[dict[str, Any]]) -> list[str]:
    return [f"harness.agents.{backend}" for backend in sorted({loop["backend"] for loop in loops})]


def fork_loops(loops: list[dict[str, Any]], run: RunArgs) -> list[int]:
    """One child per loop, each running ``run(loop["args"])``; their pids, in order."""
    gc.freeze()  # the children's collections skip what we imported: fewer copy-on-write faults
    sys.stdout.flush()
    return [_fork_loop(loop, run) for loop in loops]


def _fork_loop(loop: dict[str, Any], run: RunArgs) -> int:
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
