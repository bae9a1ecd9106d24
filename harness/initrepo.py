"""``harness init``: turn an empty directory or an existing repo into a work repo.

The result is a clone at PATH whose ``origin`` is a bare upstream (by default
``<PATH>-upstream.git`` beside it), holding harness.yaml, current_tasks/README.md,
tasks/ and prompts/ on ``main``, with the gate installed as the upstream's pre-receive hook.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.config import CONFIG_NAME
from harness.errors import HarnessError
from harness.gate.hooks import install_hooks
from harness.git.repo import GitRepo, identity_env, init_bare
from harness.locks.lockfile import LOCK_DIR
from harness.resources import doc_path, lock_readme_text, prompt_files
from harness.tasks.specs import TASK_DIR

DEFAULT_CONFIG = """\
# harness configuration; every key is described in {docs}
version: 1
branch: main
locks:
  lease_seconds: 1800      # a holder silent this long (plus grace) may lose its lock
  grace_seconds: 300
  clock_skew_seconds: 120  # allowance for clocks that disagree between machines
  heartbeat_seconds: 60
agent:
  backend: claude          # claude | codex | aider | gemini | command | builtin (scripted, to try harness)
# tests:                   # what `harness test` and the gate run; none configured: the gate tests nothing
#   runner: pytest         # pytest | files | junit
#   args: [tests]
"""
GITIGNORE_LINE = "agent_logs/"


@dataclass(frozen=True)
class InitResult:
    clone: Path
    upstream: Path
    created_files: list[str]


def init_work_repo(path: Path, source: Path | None = None, upstream: Path | None = None) -> InitResult:
    path = path.resolve()
    upstream = (upstream or path.with_name(path.name + "-upstream.git")).resolve()
    _check_places(path, source, upstream)
    made_upstream, made_path = not upstream.exists(), not path.exists()
    attached = (path / ".git").exists()
    empty = path.is_dir() and not attached and not any(path.iterdir())
    try:
        return _init(path, source, upstream)
    except BaseException:
        # Nothing half-made stays behind: a retry must meet the same state as the first try.
        if made_upstream:
            shutil.rmtree(upstream, ignore_errors=True)
        if made_path or empty:
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir() if empty else None
        elif attached:
            GitRepo(path).run("remote", "remove", "origin", check=False)
        raise


def _check_places(path: Path, source: Path | None, upstream: Path) -> None:
    """Everything that can be checked before anything is created."""
    if upstream.exists() and any(upstream.iterdir()):
        raise HarnessError(f"{upstream}: already exists and is not empty; pass --upstream NEW_PATH")
    if path.exists() and not path.is_dir():
        raise HarnessError(f"{path}: a file, not a directory; pass a new directory or an existing git repository")
    full = path.is_dir() and any(path.iterdir())
    if source is not None and full:
        raise HarnessError(f"{path}: not empty; --from needs a new or empty directory")
    if source is None and full and not (path / ".git").exists():
        raise HarnessError(
            f"{path}: has files but is not a git repository; run `git init && git add -A && git commit` "
            f"there first, or `harness init NEW_DIR --from REPO` from a repository"
        )
    if source is not None and not (source / ".git").exists() and not (source / "HEAD").exists():
        raise HarnessError(f"{source}: not a git repository (--from needs one)")
    if (path / ".git").exists() and GitRepo(path).run("remote", "get-url", "origin", check=False).returncode == 0:
        raise HarnessError(f"{path}: already has an 'origin' remote; run `harness init NEW_DIR --from {path}` instead")


def _init(path: Path, source: Path | None, upstream: Path) -> InitResult:
    existing = (path / ".git").exists()
    if source is not None:
        GitRepo(source).run("clone", "--quiet", "--bare", str(source.resolve()), str(upstream))
    else:
        init_bare(upstream)
    if existing:
        _attach_existing(path, upstream)
    else:
        path.mkdir(parents=True, exist_ok=True)
        GitRepo(path.parent).run("clone", "--quiet", str(upstream), str(path))
    repo = GitRepo(path)
    _ensure_main_branch(repo)
    created = _scaffold(path)
    if created:
        repo.run("add", "--", *created)
        repo.run("commit", "--quiet", "-m", "harness init", env=identity_env("harness-init"))
    repo.run("push", "--quiet", "origin", "HEAD:refs/heads/main")
    repo.run("branch", "--quiet", "--set-upstream-to=origin/main", check=False)
    # The gate goes on after the first push: the initial content is the baseline's start.
    install_hooks(upstream, "main")
    return InitResult(path, upstream, created)


def _attach_existing(path: Path, upstream: Path) -> None:
    GitRepo(path).run("remote", "add", "origin", str(upstream))


def _ensure_main_branch(repo: GitRepo) -> None:
    """A new clone starts on ``main``; an existing repo keeps its branch (pushed as main)."""
    if repo.rev_parse("HEAD") is None:
        repo.run("symbolic-ref", "HEAD", "refs/heads/main")


def _scaffold(path: Path) -> list[str]:
    """Write whatever of the layout is missing; return the paths created."""
    created: list[str] = []

    def write(rel: str, text: str) -> None:
        target = path / rel
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            created.append(rel)

    write(CONFIG_NAME, DEFAULT_CONFIG.format(docs=doc_path("config.md") or "docs/config.md of harness"))
    write(f"{LOCK_DIR}/README.md", lock_readme_text())
    write(f"{TASK_DIR}/README.md", "Task specs: one `<id>.yaml` per task. See `harness tasks add --help`.\n")
    for name, source in prompt_files():
        rel = f"prompts/{name}"
        if not (path / rel).exists():
            (path / "prompts").mkdir(exist_ok=True)
            shutil.copyfile(source, path / rel)
            created.append(rel)
    gitignore = path / ".gitignore"
    lines = gitignore.read_text(encoding="utf-8").splitlines() if gitignore.exists() else []
    if GITIGNORE_LINE not in lines:
        gitignore.write_text("\n".join([*lines, GITIGNORE_LINE]) + "\n", encoding="utf-8")
        created.append(".gitignore")
    return created
