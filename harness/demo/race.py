"""``harness race``: watch the lock protocol settle a real race.

N claimer processes, each with its own clone of a fresh temporary upstream, go after M
tasks at the same moment (each tries the tasks in its own order and stops at its first
win). Afterwards the upstream's history is read back to prove that every task was won
exactly once and that every winner is the agent named in the lock.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ExitCode, HarnessError
from harness.git.repo import GitRepo
from harness.initrepo import init_work_repo
from harness.runtime import process

# A claim retries within its own deadline; a claimer still running after this is stuck
# (a hung git, a wedged upstream) and is killed with its process group.
CLAIMER_TIMEOUT = 300.0
_WORKER = (
    "import sys, time\n"
    "from harness.demo.race import worker\n"
    "time.sleep(max(0.0, float(sys.argv[1]) - time.time()))\n"
    "sys.exit(worker(sys.argv[2], sys.argv[3], sys.argv[4:]))\n"
)


@dataclass(frozen=True, kw_only=True)
class RaceOutcome:
    winners: dict[str, str]  # task -> agent
    losses: int  # claims that exited 3 (lost a race or found the task held)
    empty_handed: list[str]  # agents that won nothing
    additions: dict[str, int]  # task -> times its lock was added on main
    seconds: float

    @property
    def proven(self) -> bool:
        return all(n == 1 for n in self.additions.values()) and set(self.additions) == set(self.winners)


def worker(repo: str, agent: str, tasks: list[str]) -> int:
    """One claimer: try the tasks in order, stop at the first win; print what happened."""
    from harness.locks.claim import claim
    from harness.workspace import open_workspace

    ws = open_workspace(Path(repo), agent)
    for task in tasks:
        try:
            claim(ws, task, note="race demo")
        except HarnessError as exc:
            if exc.exit_code != ExitCode.HELD:
                print(f"error {task} {exc}", flush=True)
                return int(exc.exit_code)
            print(f"lost {task}", flush=True)
            continue
        print(f"won {task}", flush=True)
        return 0
    return int(ExitCode.HELD)


def run_race(claimers: int, tasks: int, base: Path, say: Callable[[str], None]) -> RaceOutcome:
    work = init_work_repo(base / "work")
    names = [f"task-{i:02d}" for i in range(tasks)]
    clones = []
    for i in range(claimers):
        clone = base / "clones" / f"claimer-{i:02d}"
        clone.parent.mkdir(parents=True, exist_ok=True)
        GitRepo(base).run("clone", "--quiet", str(work.upstream), str(clone))
        clones.append(clone)
    say(f"{claimers} claimers, each with its own clone, race for {tasks} tasks on {work.upstream}")
    start_at = time.time() + 1.5
    procs = []
    for i, clone in enumerate(clones):
        order = names[i % tasks :] + names[: i % tasks]  # everyone starts on a different task
        argv = [sys.executable, "-c", _WORKER, str(start_at), str(clone), clone.name, *order]
        procs.append((clone.name, process.start(argv, clone)))
    winners: dict[str, str] = {}
    losses = 0
    for agent, child in procs:
        done = child.finish(max(1.0, start_at + CLAIMER_TIMEOUT - time.time()))
        if done.timed_out:
            say(f"{agent}: {process.describe_exit(None, CLAIMER_TIMEOUT)} and was killed")
        for line in done.output.splitlines():
            verb, _, task = line.partition(" ")
            if verb == "won":
                if task in winners:
                    raise HarnessError(f"{task} was won twice ({winners[task]} and {agent})")
                winners[task] = agent
            elif verb == "lost":
                losses += 1
            else:
                say(f"{agent}: {line}")
    seconds = time.time() - start_at
    additions = _lock_additions(GitRepo(work.upstream), names)
    empty = sorted(agent for agent, _ in procs if agent not in winners.values())
    return RaceOutcome(winners=winners, losses=losses, empty_handed=empty, additions=additions, seconds=seconds)


def _lock_additions(upstream: GitRepo, tasks: list[str]) -> dict[str, int]:
    counts = {}
    for task in tasks:
        log = upstream.out("log", "--format=%H", "--diff-filter=A", "main", "--", f"current_tasks/{task}.lock")
        counts[task] = len(log.split())
    return {task: n for task, n in counts.items() if n}


def race_demo(claimers: int, tasks: int, keep: Path | None, say: Callable[[str], None]) -> bool:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        outcome = run_race(claimers, tasks, keep, say)
    else:
        with tempfile.TemporaryDirectory(prefix="harness-race-") as tmp:
            outcome = run_race(claimers, tasks, Path(tmp), say)
    for task, agent in sorted(outcome.winners.items()):
        say(f"  {task}  won by {agent}   (lock added to main {outcome.additions.get(task, 0)} time)")
    say(
        f"{len(outcome.winners)}/{tasks} tasks won, {outcome.losses} claims lost a race or found the task held, "
        f"{len(outcome.empty_handed)} claimers won nothing, {outcome.seconds:.1f} s"
    )
    say("proof: every task's lock was added exactly once" if outcome.proven else "PROOF FAILED: see above")
    return outcome.proven and len(outcome.winners) == min(tasks, claimers)
