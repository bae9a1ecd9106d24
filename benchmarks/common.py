"""What every benchmark shares: a hermetic git environment, like the tests' conftest."""

from __future__ import annotations

import os
from pathlib import Path


def hermetic_env(home: Path) -> None:
    """A private HOME and global git config; no system config, no stray GIT_*/HARNESS_* state."""
    for key in [k for k in os.environ if k.startswith(("GIT_", "HARNESS_"))]:
        del os.environ[key]
    home.mkdir(parents=True, exist_ok=True)
    config = home / ".gitconfig"
    config.write_text("[user]\n\tname = bench\n\temail = bench@example.invalid\n[init]\n\tdefaultBranch = main\n")
    os.environ.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=str(config))
