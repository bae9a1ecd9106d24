"""The local fleet's launcher (``harness/runtime/launcher.py`` does the forking).

    python -m harness.cli.launcher < loops.json      prints the loops' pids as JSON

Started by ``harness up --runtime local`` (runtime/local.py) as a process of its own. It lives
in cli/ because it is an entry point: it hands each forked loop the CLI's ``run``, so the loop
runs the same ``harness loop`` command line, with the same exit codes, as a shell would.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from harness.cli.main import run
from harness.runtime.launcher import backend_modules, fork_loops, preload

# What a loop imports before its first iteration (measured with -X importtime).
PRELOAD = ("harness.cli.loop", "harness.loop.runner", "harness.agents.base")


def main() -> int:
    # Import first, then read what to start: `harness up` makes the clones meanwhile.
    preload(PRELOAD)
    loops: list[dict[str, Any]] = json.load(sys.stdin)
    preload(backend_modules(loops))
    print(json.dumps(fork_loops(loops, run)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
