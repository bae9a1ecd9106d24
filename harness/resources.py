"""Files harness ships: role prompts and the lock-format README copied into work repos, and
its docs (the generated harness.yaml points to docs/config.md).

In a source checkout they live at the repository's top level (``prompts/``,
``current_tasks/README.md``); in an installed wheel they are packaged under
``harness/_data`` (see pyproject.toml's force-include).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CANDIDATES = (_PACKAGE / "_data", _PACKAGE.parent)


def _find(relative: str) -> Path | None:
    for base in _CANDIDATES:
        if (base / relative).exists():
            return base / relative
    return None


def prompt_dir() -> Path | None:
    return _find("prompts")


def prompt_files() -> list[tuple[str, Path]]:
    folder = prompt_dir()
    if folder is None:
        return []
    return [(p.name, p) for p in sorted(folder.glob("*.md"))]


def lock_readme_text() -> str:
    path = _find("current_tasks/README.md")
    if path is None:
        return "Lock files: see the harness documentation.\n"
    return path.read_text(encoding="utf-8")


def doc_path(name: str) -> Path | None:
    """One of harness's docs (docs/<name>), in a source checkout or an installed wheel."""
    return _find(f"docs/{name}")


def docker_dir() -> Path | None:
    """docker/ (the agent image's Dockerfile and entrypoint)."""
    folder = _find("docker")
    return folder if folder is not None and (folder / "Dockerfile").exists() else None


def source_checkout() -> Path | None:
    """The source checkout harness runs from (an editable install), or None for a wheel."""
    root = _PACKAGE.parent
    return root if (root / "pyproject.toml").exists() else None
