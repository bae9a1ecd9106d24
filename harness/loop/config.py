"""``agent:`` and ``loop:`` sections of harness.yaml → frozen settings for ``harness loop``.

Kept beside config.py (and using its field reader) so every error still names the file
and the field. Durations accept fractions of a second: tests and demos run short loops.

```yaml
agent:
  backend: claude            # claude | codex | aider | gemini | command | builtin
  model: ""                  # passed to backends that take a model
  command: ""                # command backend: a template with {prompt_file} {task} {agent} {role}
  args: []                   # extra arguments appended to the backend's argv
  base_url: ""               # the model API to point the CLI at (a proxy, gateway, local model): docs/agents.md
  usd_per_mtok: {}           # {input: 1.25, output: 10}: prices for CLIs that report no cost (codex, gemini)
loop:
  mode: auto                 # queue (the scheduler picks) | open (the agent claims) | auto
  session_timeout_seconds: 3600
  idle_backoff_seconds: 5    # first wait when nothing is claimable, doubling up to the max
  idle_backoff_max_seconds: 300
  rate_limit_backoff_seconds: 60
  rate_limit_backoff_max_seconds: 3600
  kill_grace_seconds: 10     # SIGTERM → SIGKILL for a session being stopped
  resolution_sessions: 1     # agent sessions allowed to resolve same-line conflicts
  session_user: ""           # when the loop runs as root: run sessions as this user (name or uid)
  regenerate:                # dependency lock file → command that rebuilds it after a conflict
    uv.lock: uv lock
  regenerate_timeout_seconds: 900  # then the command's process group is killed and the work parked
  hand_back_timeout_seconds: 60    # when the loop ends: keep retrying a failing hand-back this long
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from harness.config import Config, _Reader

BACKENDS = ("claude", "codex", "aider", "gemini", "command", "builtin")


class LoopMode(StrEnum):
    """Who picks the task: the loop (the scheduler's choice), the agent, or the loop when the
    tip has task specs and the agent otherwise."""

    AUTO = "auto"
    QUEUE = "queue"
    OPEN = "open"


MODES = tuple(mode.value for mode in LoopMode)


@dataclass(frozen=True)
class AgentSettings:
    backend: str = "claude"
    model: str = ""
    command: str = ""
    args: tuple[str, ...] = ()
    base_url: str = ""
    usd_per_mtok: tuple[float, float] | None = None  # (input, output): the cost of CLIs that report none


@dataclass(frozen=True, kw_only=True)
class LoopSettings:
    mode: LoopMode = LoopMode.AUTO
    session_timeout_seconds: float = 3600.0
    idle_backoff_seconds: float = 5.0
    idle_backoff_max_seconds: float = 300.0
    rate_limit_backoff_seconds: float = 60.0
    rate_limit_backoff_max_seconds: float = 3600.0
    kill_grace_seconds: float = 10.0
    resolution_sessions: int = 1
    session_user: str = ""
    regenerate: Mapping[str, str] = field(default_factory=dict)
    regenerate_timeout_seconds: float = 900.0
    hand_back_timeout_seconds: float = 60.0


def read_agent_settings(config: Config) -> AgentSettings:
    section = _Reader(config.path, config.raw).mapping("agent")
    section.reject_unknown(set(AgentSettings.__dataclass_fields__))
    d = AgentSettings()
    backend = str(section.data.get("backend", d.backend))
    if backend not in BACKENDS:
        raise section.fail("backend", f"unknown backend {backend!r}; expected one of: {', '.join(BACKENDS)}")
    return AgentSettings(
        backend=backend,
        model=_text(section, "model", d.model),
        command=_text(section, "command", d.command),
        args=_strings(section, "args"),
        base_url=_url(section, "base_url"),
        usd_per_mtok=_prices(section, "usd_per_mtok"),
    )


def read_loop_settings(config: Config) -> LoopSettings:
    section = _Reader(config.path, config.raw).mapping("loop")
    section.reject_unknown(set(LoopSettings.__dataclass_fields__))
    d = LoopSettings()
    mode = str(section.data.get("mode", d.mode.value))
    if mode not in MODES:
        raise section.fail("mode", f"expected one of {', '.join(MODES)}, got {mode!r}")
    regenerate = section.mapping("regenerate").data
    if not all(isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in regenerate.items()):
        raise section.fail("regenerate", "expected a mapping of lock file name to a shell command")
    return LoopSettings(
        mode=LoopMode(mode),
        session_timeout_seconds=_seconds(section, "session_timeout_seconds", d.session_timeout_seconds, positive=True),
        idle_backoff_seconds=_seconds(section, "idle_backoff_seconds", d.idle_backoff_seconds),
        idle_backoff_max_seconds=_seconds(section, "idle_backoff_max_seconds", d.idle_backoff_max_seconds),
        rate_limit_backoff_seconds=_seconds(section, "rate_limit_backoff_seconds", d.rate_limit_backoff_seconds),
        rate_limit_backoff_max_seconds=_seconds(
            section, "rate_limit_backoff_max_seconds", d.rate_limit_backoff_max_seconds
        ),
        kill_grace_seconds=_seconds(section, "kill_grace_seconds", d.kill_grace_seconds),
        resolution_sessions=section.positive_int("resolution_sessions", d.resolution_sessions),
        session_user=_text(section, "session_user", d.session_user),
        regenerate=dict(regenerate),
        regenerate_timeout_seconds=_seconds(
            section, "regenerate_timeout_seconds", d.regenerate_timeout_seconds, positive=True
        ),
        hand_back_timeout_seconds=_seconds(section, "hand_back_timeout_seconds", d.hand_back_timeout_seconds),
    )


def _seconds(section: _Reader, key: str, default: float, positive: bool = False) -> float:
    value = section.data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise section.fail(key, f"expected a number of seconds {bound}, got {value!r}")
    return float(value)


def _text(section: _Reader, key: str, default: str) -> str:
    value = section.data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str | int):
        raise section.fail(key, f"expected a string, got {value!r}")
    return str(value)


def _url(section: _Reader, key: str) -> str:
    value = _text(section, key, "").strip()
    if value and not value.startswith(("http://", "https://")):
        raise section.fail(key, f"expected an http:// or https:// URL, got {value!r}")
    return value


def _prices(section: _Reader, key: str) -> tuple[float, float] | None:
    prices = section.mapping(key).data
    if not prices:
        return None
    values = [prices.get(k) for k in ("input", "output")]
    if set(prices) != {"input", "output"} or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in values
    ):
        raise section.fail(key, f"expected {{input: USD, output: USD}} per million tokens, got {prices!r}")
    return float(values[0]), float(values[1])  # type: ignore[arg-type]


def _strings(section: _Reader, key: str) -> tuple[str, ...]:
    value = section.data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise section.fail(key, f"expected a list of strings, got {value!r}")
    return tuple(value)
