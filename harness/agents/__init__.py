"""Agent backends: one module per CLI (claude, codex, aider, gemini, command, builtin).

Each module defines ``BACKEND``, an object with ``invocation(ctx)`` (the argv, stdin and
environment of one session) and ``usage(output, returncode)`` (tokens, cost and whether the
session hit a rate limit, read from what the CLI printed). Modules are imported by name,
only when used, so a loop pays for the one backend it runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.agents.base import Backend


def get_backend(name: str) -> Backend:
    # Imported here, not at the top: the builtin agent's process imports this package and
    # should not pay for config parsing it never does.
    from harness.errors import UsageError
    from harness.loop.config import BACKENDS

    if name not in BACKENDS:
        raise UsageError(f"unknown agent backend {name!r}; expected one of: {', '.join(BACKENDS)}")
    module = importlib.import_module(f"harness.agents.{name}")
    backend: Backend = module.BACKEND
    return backend
