"""What every agent backend provides, and the output parsing they share.

A backend turns a ``SessionContext`` (workspace, prompt file, agent, role, task, model)
into an ``Invocation`` (argv, stdin file, extra environment), and reads a ``Usage``
(tokens, cost, rate limit) back from the session's output. The loop never needs to know
which CLI it runs.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

# Words CLIs print when the provider throttles them. Checked only on failed sessions, so an
# agent that merely *talks* about rate limits in a successful session does not back off.
RATE_LIMIT = re.compile(
    r"rate[ _-]?limit|\b429\b|\b529\b|quota|overloaded|usage limit|resource[ _]exhausted|too many requests",
    re.IGNORECASE,
)
TAIL_BYTES = 64 * 1024


@dataclass(frozen=True, kw_only=True)
class SessionContext:
    workspace: Path
    prompt_file: Path
    agent: str
    role: str
    task: str | None
    kind: str = "work"  # "work" | "resolve" (a same-lines conflict handed to the agent)
    model: str = ""
    command: str = ""  # the command backend's template
    extra_args: tuple[str, ...] = ()
    task_title: str = ""  # the task spec's title and body, as the prompt shows them
    task_body: str = ""
    base_url: str = ""  # agent.base_url: the model API (a proxy, a gateway, a local model) to point the CLI at
    session_uid: int = field(default_factory=os.geteuid)  # the uid the session runs as (loop.session_user)

    @property
    def state_dir(self) -> Path:
        """The clone's private state folder (inside .git, never committed): where a backend
        keeps what it writes for the CLI, so the user's own config is never edited."""
        return self.workspace / ".git" / "harness"


@dataclass(frozen=True)
class Invocation:
    argv: list[str]
    stdin_file: Path | None = None  # fed to the session's stdin (the prompt, for most CLIs)
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    rate_limited: bool = False
    error: str = ""  # the backend's own error message, when it reported one


class Backend(Protocol):
    name: str

    def invocation(self, ctx: SessionContext) -> Invocation: ...

    def usage(self, output: str, returncode: int | None) -> Usage: ...


def rate_limited(output: str, returncode: int | None) -> bool:
    return bool(rate_limit_line(output, returncode))


def rate_limit_line(output: str, returncode: int | None) -> str:
    """The last output line of a failed session that names a rate limit or quota, or ""."""
    if returncode == 0:
        return ""
    for line in reversed(output[-TAIL_BYTES:].splitlines()):
        if RATE_LIMIT.search(line):
            return line.strip()[:200]
    return ""


def priced(usage: Usage, usd_per_mtok: tuple[float, float] | None) -> Usage:
    """The session's cost from its tokens and ``agent.usd_per_mtok``, for a CLI that reported
    none (Codex and Gemini print tokens only); a cost the CLI reported is kept."""
    if usd_per_mtok is None or usage.cost_usd:
        return usage
    cost = (usage.input_tokens * usd_per_mtok[0] + usage.output_tokens * usd_per_mtok[1]) / 1_000_000
    return replace(usage, cost_usd=cost)


def generic_usage(output: str, returncode: int | None) -> Usage:
    """For CLIs that print no machine-readable usage: only the rate-limit signal."""
    line = rate_limit_line(output, returncode)
    return Usage(rate_limited=bool(line), error=line)


def keep_out_of_git(ctx: SessionContext, *patterns: str) -> None:
    """Add ``patterns`` to the clone's ``.git/info/exclude``: files a CLI leaves in the work
    tree are then neither committed by a session's ``git add -A`` nor parked by the next sync,
    and the tracked ``.gitignore`` stays the project's."""
    exclude = ctx.workspace / ".git" / "info" / "exclude"
    lines = exclude.read_text().splitlines() if exclude.exists() else []
    missing = [pattern for pattern in patterns if pattern not in lines]
    if missing:
        exclude.parent.mkdir(parents=True, exist_ok=True)
        exclude.write_text("\n".join([*lines, *missing]) + "\n")


def expand_template(template: str, ctx: SessionContext) -> list[str]:
    """``{prompt_file} {task} {agent} {role} {workspace}`` in a shell-like command template."""
    values = {
        "prompt_file": str(ctx.prompt_file),
        "task": ctx.task or "",
        "agent": ctx.agent,
        "role": ctx.role,
        "workspace": str(ctx.workspace),
        "kind": ctx.kind,
    }
    return [_fill(word, values) for word in shlex.split(template)]


def _fill(word: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        word = word.replace("{" + key + "}", value)
    return word
