"""What recovery costs on the hot path (issue 16), measured side by side in one run.

    .venv/bin/python -m benchmarks.recovery [--rounds 41]

  push      one heartbeat-sized push to a local upstream (through the upstream's gate hook),
            run attached (pipes, our process group) and detached (a process group of its
            own, output to temporary files: git/spawn.py)
  scan      one look through /proc for git processes working in the upstream
            (git/stalelocks.py), paid only when git reported a lock file in its way or a
            pending claim is missing from the tip
Medians of ROUNDS, the two push modes alternating so load drift hits both alike.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import hermetic_env
from harness.git import stalelocks
from harness.git.repo import GitRepo, identity_env
from harness.initrepo import init_work_repo


def _push_once(repo: GitRepo, n: int, detach: bool) -> float:
    env = identity_env("bench")
    commit = repo.commit_tree(repo.tree_with_changes(None, {}), [], f"beat {n}\n", env)
    start = time.perf_counter()
    result = repo.push(commit, "refs/harness/heartbeats/bench", force=True, detach=detach)
    took = time.perf_counter() - start
    assert result.status.value == "ok", result
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as tmp:
        hermetic_env(Path(tmp) / "home")
        work = init_work_repo(Path(tmp) / "work")
        repo = GitRepo(work.clone)
        attached, detached, scans = [], [], []
        for n in range(rounds + 1):
            pair = (_push_once(repo, 2 * n, False), _push_once(repo, 2 * n + 1, True))
            start = time.perf_counter()
            stalelocks.git_processes(work.upstream)
            scan = time.perf_counter() - start
            if n:  # the first round warms caches
                attached.append(pair[0])
                detached.append(pair[1])
                scans.append(scan)
    a, d, s = (statistics.median(x) * 1000 for x in (attached, detached, scans))
    print(f"push attached  {a:7.2f} ms (median of {rounds})")
    print(f"push detached  {d:7.2f} ms  ratio detached/attached {d / a:.2f}")
    print(f"/proc scan     {s:7.2f} ms")


if __name__ == "__main__":
    main()
