"""The verifier: the files that decide what runs and how it is judged, and how the gate
lays the old tip's verifier over pushed code.

Kinds of verifier path (docs/gate.md):

- ``test``: a file of tests (pytest: ``test_*.py`` / ``*_test.py``; ``files``: the test
  glob). Its tests are judged in their old form; a change is accepted when the old form
  still passes on the pushed code (judge.py).
- ``hook``: code the runner loads by itself (``conftest.py``, a root ``pytest.py`` or
  ``sitecustomize.py``, a committed ``*.dist-info``, the runner script). New, changed or
  deleted: never used by this run, and only ``gate.test_roles`` may push it.
- ``config``: a file pytest may read its configuration from. It counts as changed only when
  its pytest section does (pyproject's ``[tool.pytest…]``, setup.cfg's ``[tool:pytest]``,
  tox.ini's ``[pytest]``; the whole of pytest.ini); then it is a hook change.
- ``support``: any other file under ``gate.verifier`` (helpers, data). Changed or deleted:
  a hook change. New: allowed, and seen only by the new tests.
- ``protected``: harness.yaml and ``gate.protected`` (``gate.protected_roles`` decide).
"""

from __future__ import annotations

import configparser
import shlex
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from harness.config import CONFIG_NAME, GateSettings, SuiteSettings
from harness.gate.paths import GITLINK, PathChange, glob_match, protected_hits
from harness.git.repo import GitRepo


class Kind(StrEnum):
    TEST = "test"
    HOOK = "hook"
    CONFIG = "config"
    SUPPORT = "support"
    PROTECTED = "protected"


PYTEST_TEST_FILES = ("**/test_*.py", "**/*_test.py")
PYTEST_CONFIG_FILES = (
    "pytest.ini",
    ".pytest.ini",
    "pytest.toml",
    ".pytest.toml",
    "pyproject.toml",
    "tox.ini",
    "setup.cfg",
)
# Found by the interpreter or pytest before any test is collected when the checkout's root is
# on sys.path: pytest itself shadowed, site hooks, plugins announced by entry points.
PYTEST_SHADOWS = (
    "pytest.py",
    "py.py",
    "_pytest/",
    "pluggy/",
    "sitecustomize.py",
    "usercustomize.py",
    "*.pth",
    "*.dist-info/",
    "*.egg-info/",
)
DEFAULT_PYTEST_VERIFIER = ("tests/", "test/")


@dataclass(frozen=True)
class Entry:
    mode: str
    sha: str


Listing = Mapping[str, Entry]


def list_tree(repo: GitRepo, commit: str) -> dict[str, Entry]:
    raw = repo.run("ls-tree", "-r", "-z", commit).stdout.decode(errors="surrogateescape")
    listing = {}
    for record in filter(None, raw.split("\0")):
        meta, path = record.split("\t", 1)
        mode, _, sha = meta.split()
        listing[path] = Entry(mode, sha)
    return listing


@dataclass(frozen=True, kw_only=True)
class Verifier:
    """Which paths are the verifier, as the old tip's harness.yaml says."""

    runner: str
    test_globs: tuple[str, ...]
    hooks: tuple[str, ...]  # globs
    support: tuple[str, ...]  # globs
    protected: tuple[str, ...]

    @classmethod
    def at(cls, suite: SuiteSettings, gate: GateSettings, old_paths: Sequence[str]) -> Verifier:
        scripts = runner_scripts(suite, old_paths)
        tests: tuple[str, ...]
        hooks: tuple[str, ...]
        default: tuple[str, ...]
        if suite.runner == "pytest":
            tests, hooks = PYTEST_TEST_FILES, ("**/conftest.py", *PYTEST_SHADOWS, *scripts)
            default = DEFAULT_PYTEST_VERIFIER
        elif suite.runner == "files":
            tests, hooks, default = (suite.glob,), scripts, (suite.glob, *scripts)
        else:
            tests, hooks, default = (), scripts, scripts
        extra = gate.verifier if gate.verifier is not None else default
        return cls(
            runner=suite.runner,
            test_globs=tests,
            hooks=hooks,
            support=extra,
            protected=(CONFIG_NAME, *gate.protected),
        )

    def kind(self, path: str) -> Kind | None:
        if protected_hits([path], self.protected):
            return Kind.PROTECTED
        if self.runner == "pytest" and path.rsplit("/", 1)[-1] in PYTEST_CONFIG_FILES:
            return Kind.CONFIG
        if any(glob_match(path, g) for g in self.hooks):
            return Kind.HOOK
        if any(glob_match(path, g) for g in self.test_globs):
            return Kind.TEST
        if any(glob_match(path, g) for g in self.support):
            return Kind.SUPPORT
        return None

    def file_of(self, test_id: str) -> str:
        """The file a test id lives in (pytest: before ``::``; ``files``: the id itself)."""
        return test_id.split("::", 1)[0] if self.runner == "pytest" else test_id


def runner_scripts(suite: SuiteSettings, old_paths: Sequence[str]) -> tuple[str, ...]:
    """Files of the repository that the configured test command runs (``./run_one.sh``)."""
    present = set(old_paths)
    found = []
    for command in (suite.run, suite.command):
        try:
            words = shlex.split(command)
        except ValueError:
            words = command.split()
        for word in words:
            path = word.removeprefix("./")
            if path in present and "{" not in path:
                found.append(path)
    return tuple(dict.fromkeys(found))


def pytest_section(path: str, content: bytes | None) -> object:
    """What pytest reads from a config file; a file without a pytest section reads as None,
    one that does not parse as itself (any change to it counts)."""
    if content is None:
        return None
    name = path.rsplit("/", 1)[-1]
    try:
        text = content.decode()
        if name == "pyproject.toml":
            tool: Any = tomllib.loads(text).get("tool", {})
            return tool.get("pytest") if isinstance(tool, dict) else None
        if name in ("tox.ini", "setup.cfg"):
            parser = configparser.RawConfigParser(strict=False)
            parser.read_string(text)
            section = "pytest" if name == "tox.ini" else "tool:pytest"
            return dict(parser.items(section)) if parser.has_section(section) else None
    except (UnicodeDecodeError, ValueError, configparser.Error):
        return content
    return content  # pytest.ini and friends: all of it is pytest's


@dataclass(frozen=True, kw_only=True)
class Plan:
    """What the push changes in the verifier, and the two trees the gate builds."""

    old_form: dict[str, Entry | None]  # tree A: the old tip's verifier over the pushed code
    new_tests: dict[str, Entry | None]  # tree B: the pushed tests, the old tip's infrastructure
    infrastructure: list[str]  # hook/config/support paths the push adds, changes or deletes
    changed_tests: list[str]  # test files of the old tip the push changes or deletes
    added_tests: list[str]  # test files the push adds
    protected: list[str]


def plan(
    verifier: Verifier, repo: GitRepo, old: str, new: str, changes: Sequence[PathChange], old_listing: Listing
) -> Plan:
    result = Plan(old_form={}, new_tests={}, infrastructure=[], changed_tests=[], added_tests=[], protected=[])
    configs = [c.path for c in changes if verifier.kind(c.path) is Kind.CONFIG]
    old_blobs = repo.read_blobs(old, configs) if configs else {}
    new_blobs = repo.read_blobs(new, configs) if configs else {}
    for change in changes:
        kind = verifier.kind(change.path)
        if kind is None or change.new_mode == GITLINK:
            continue
        restore = old_listing.get(change.path)  # None: absent at the old tip, removed
        if kind is Kind.CONFIG:
            same = pytest_section(change.path, old_blobs[change.path]) == pytest_section(
                change.path, new_blobs[change.path]
            )
            if same:
                continue  # only what pytest does not read changed: keep the pushed file
            kind = Kind.HOOK
        result.old_form[change.path] = restore
        if kind is Kind.TEST:
            (result.added_tests if change.added else result.changed_tests).append(change.path)
            continue
        if kind is Kind.PROTECTED:
            result.protected.append(change.path)
        elif not (kind is Kind.SUPPORT and change.added):
            result.infrastructure.append(change.path)
        if not (kind is Kind.SUPPORT and change.added):
            result.new_tests[change.path] = restore
    return result


def overlay(repo: GitRepo, commit: str, restore: Mapping[str, Entry | None], dest: Path) -> Path:
    """A plain checkout of ``commit`` at ``dest`` with ``restore``'s paths set to the given
    old entries (None: removed), made through a private index."""
    dest.mkdir(parents=True, exist_ok=True)
    env = {"GIT_INDEX_FILE": str(dest.parent / f".{dest.name}.index")}
    repo.run("read-tree", commit, env=env)
    if restore:
        records = [
            f"{e.mode} {e.sha}\t{path}" if e is not None else f"0 {'0' * 40}\t{path}" for path, e in restore.items()
        ]
        repo.run("update-index", "-z", "--index-info", stdin="\0".join(records).encode() + b"\0", env=env)
    repo.run(f"--work-tree={dest}", "checkout-index", "-a", "-f", env=env)
    Path(env["GIT_INDEX_FILE"]).unlink(missing_ok=True)
    return dest
