"""What every benchmark shares: a hermetic git environment, like the tests' conftest."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def hermetic_env(home: Path) -> None:
    """A private HOME and global git config; no system config, no stray GIT_*/HARNESS_* state."""
    for key in [k for k in os.environ if k.startswith(("GIT_", "HARNESS_"))]:
        del os.environ[key]
    home.mkdir(parents=True, exist_ok=True)
    config = home / ".gitconfig"
    config.write_text("[user]\n\tname = bench\n\temail = bench@example.invalid\n[init]\n\tdefaultBranch = main\n")
    os.environ.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=str(config))


def add_prior_commits(clone: Path, commits: int) -> None:
    """``commits`` small commits on the clone's main (one fast-import), pushed to its origin."""
    stream = "".join(
        f"commit refs/heads/main\ncommitter b <b@x> {1_700_000_000 + i} +0000\ndata {len(f'c{i}')}\nc{i}\n"
        + ("from refs/heads/main^0\n" if i == 0 else "")
        + f"M 644 inline f{i % 50}.txt\ndata {len(str(i))}\n{i}\n\n"
        for i in range(commits)
    )
    subprocess.run(["git", "fast-import", "--quiet"], cwd=clone, input=stream.encode(), check=True)
    for args in (["reset", "-q", "--hard", "main"], ["push", "-q", "origin", "main"]):
        subprocess.run(["git", *args], cwd=clone, check=True, capture_output=True)
