"""Reading the YAML files harness and its users write: one error shape for all of them."""

from __future__ import annotations

from typing import Any

import yaml

from harness.errors import ConfigError

# libyaml's safe loader where PyYAML has it (its wheels do): ~10x faster than the pure-Python
# one, and a claim parses every lock file at the tip.
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_mapping(path: str, content: bytes | str, what: str, fix: str) -> dict[str, Any]:
    """Parse ``content`` (the file at ``path``) as a YAML mapping; an empty file is ``{}``.

    Errors are one line: ``<path>: <what> (<problem>); <fix>``.
    """
    try:
        text = content.decode("utf-8") if isinstance(content, bytes) else content
        data = yaml.load(text, Loader=_SAFE_LOADER)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {what} ({_problem(exc)}); {fix}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {what} (expected a mapping, got {type(data).__name__}); {fix}")
    return data


def _problem(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}: " if mark is not None else ""
    return where + str(getattr(exc, "problem", None) or exc).splitlines()[0]
