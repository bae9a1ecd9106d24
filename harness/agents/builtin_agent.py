"""The builtin scripted agent's program (``python -m harness.agents.builtin_agent``).

Plainly: this is not an AI. It does exactly what the task spec's body says, using these
directives (anything else in the body is prose for humans)::

    @write PATH        the lines up to @end become the file
    @append PATH       the lines up to @end are appended to the file
    @replace PATH      the lines up to @with are replaced by the lines up to @end
    @sleep SECONDS     pretend to think (plus $HARNESS_BUILTIN_SLEEP for every session)
    @exit CODE         fail without committing

Work sessions (``HARNESS_SESSION_KIND=work``) apply the directives of ``$HARNESS_TASK`` and
commit; with no task (open mode) it claims the scheduler's next task itself, and releases
it when done, as the open-mode prompt asks of any agent. Resolve sessions (a same-lines
conflict handed back by the loop) keep both sides of every conflict, upstream's first.
A work session imports only ``os``, ``sys`` and ``time`` and runs git with
``posix_spawn`` (``subprocess``, ``json`` and ``pathlib`` would double its start-up:
measured 106 ms a session, against 27 ms for a bare Python); the loop runs it by path, not
with ``-m``, which would import the package and ``runpy``. Open-mode and resolve sessions
import what they need when they need it.

It runs git straight, not through git/repo.py or runtime/process.py, on purpose: it is the
agent's program, not harness's, and runs git the way any agent's shell does (their imports
would also undo the start-up figures above). Its own process group, timeout and death
belong to the session that runs it (runtime/agentproc.py, through runtime/process.py).
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy honours the name)
if TYPE_CHECKING:
    import subprocess


def main() -> int:
    root = os.getcwd()
    if os.environ.get("HARNESS_SESSION_KIND") == "resolve":
        return _resolve(root)
    task = os.environ.get("HARNESS_TASK") or ""
    open_mode = not task
    if open_mode:
        task = _claim_next(root)
        if not task:
            _report("builtin agent: nothing to claim")
            return 0
    spec = _spec_from_env(task) or _read_spec(root, task)
    if spec is None:
        _report(f"builtin agent: no spec tasks/{task}.yaml, nothing to do", error=True)
        return 1
    time.sleep(float(os.environ.get("HARNESS_BUILTIN_SLEEP") or 0))
    code = _apply(root, str(spec.get("body") or ""))
    if code:
        _report(f"builtin agent: task {task} says to fail with exit {code}", error=True)
        return code
    _spawn_git(root, "add", "-A")
    # Nothing staged makes `git commit` exit 1 and commit nothing, which is what we want.
    _spawn_git(root, "commit", "--quiet", "-m", f"{task}: {spec.get('title') or task}")
    if open_mode:
        _release(root, task)
    _report(f"builtin agent: applied task {task}")
    return 0


def _apply(root: str, body: str) -> int:
    lines = body.splitlines()
    i = 0
    while i < len(lines):
        words = lines[i].split(maxsplit=1)
        i += 1
        if not words or not words[0].startswith("@"):
            continue
        op, arg = words[0], (words[1].strip() if len(words) > 1 else "")
        if op == "@sleep":
            time.sleep(float(arg))
        elif op == "@exit":
            return int(arg)
        elif op in ("@write", "@append", "@replace"):
            first, i = _block(lines, i, ("@with",) if op == "@replace" else ("@end",))
            second: list[str] = []
            if op == "@replace":
                second, i = _block(lines, i, ("@end",))
            _edit(os.path.join(root, arg), op, first, second)
    return 0


def _block(lines: list[str], i: int, ends: tuple[str, ...]) -> tuple[list[str], int]:
    start = i
    while i < len(lines) and lines[i].strip() not in ends:
        i += 1
    return lines[start:i], i + 1


def _edit(path: str, op: str, first: list[str], second: list[str]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    old = _read(path) if os.path.exists(path) else ""
    if op == "@write":
        new = "".join(f"{line}\n" for line in first)
    elif op == "@append":
        new = old + ("" if not old or old.endswith("\n") else "\n") + "".join(f"{line}\n" for line in first)
    else:
        before = "".join(f"{line}\n" for line in first)
        new = old.replace(before, "".join(f"{line}\n" for line in second), 1)
    _write(path, new)


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def _resolve(root: str) -> int:
    from harness.git.markers import keep_both_sides

    files = _git(root, "diff", "--name-only", "--diff-filter=U").stdout.split()
    for name in files:
        path = os.path.join(root, name)
        _write(path, keep_both_sides(_read(path)))
        _git(root, "add", "--", name)
    _report(f"builtin agent: resolved {len(files)} file(s) by keeping both sides")
    return 0


def _spec_from_env(task: str) -> dict[str, object] | None:
    """The title and body the loop handed over for ``task`` (work sessions in queue mode)."""
    if os.environ.get("HARNESS_TASK") != task or "HARNESS_TASK_BODY" not in os.environ:
        return None
    return {"title": os.environ.get("HARNESS_TASK_TITLE") or task, "body": os.environ["HARNESS_TASK_BODY"]}


def _read_spec(root: str, task: str) -> dict[str, object] | None:
    import yaml  # here, not at the top: a queue-mode session gets its spec without it

    path = f"tasks/{task}.yaml"
    proc = _git(root, "show", f"refs/remotes/origin/main:{path}", check=False)
    text = proc.stdout if proc.returncode == 0 else None
    if text is None and os.path.exists(os.path.join(root, path)):
        text = _read(os.path.join(root, path))
    data = yaml.safe_load(text) if text else None
    return data if isinstance(data, dict) else None


def _claim_next(root: str) -> str:
    from pathlib import Path

    from harness.errors import HarnessError
    from harness.locks.claim import claim
    from harness.tasks.ops import next_choice, snapshot_at_tip
    from harness.workspace import open_workspace

    ws = open_workspace(Path(root), os.environ.get("HARNESS_AGENT"))
    role = os.environ.get("HARNESS_ROLE") or None
    for _ in range(5):
        spec = next_choice(snapshot_at_tip(ws), role)
        if spec is None:
            return ""
        try:
            claim(ws, spec.id, role=role or "")
        except HarnessError:
            continue
        _git(root, "merge", "--ff-only", "--quiet", "refs/remotes/origin/main", check=False)
        return spec.id
    return ""


def _release(root: str, task: str) -> None:
    from pathlib import Path

    from harness.locks.release import ReleaseOutcome, release
    from harness.workspace import open_workspace

    release(open_workspace(Path(root), os.environ.get("HARNESS_AGENT")), task, ReleaseOutcome.DONE)


def _git_env() -> dict[str, str]:
    agent = os.environ.get("HARNESS_AGENT") or "builtin"
    env = {**os.environ, "GIT_AUTHOR_NAME": agent, "GIT_AUTHOR_EMAIL": f"{agent}@harness.invalid"}
    env.update({"GIT_COMMITTER_NAME": agent, "GIT_COMMITTER_EMAIL": f"{agent}@harness.invalid"})
    return env


def _git(root: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    import subprocess

    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, env=_git_env(), check=check)


def _spawn_git(root: str, *args: str) -> int:
    """``git -C root args`` with its output discarded; its exit code."""
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
        pid = os.posix_spawnp("git", ["git", "-C", root, *args], _git_env(), file_actions=actions)
    finally:
        os.close(devnull)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _report(message: str, error: bool = False) -> None:
    """A Claude-style result line, so the loop reads usage the same way for every agent."""
    print(message)
    print(
        f'{{"type": "result", "is_error": {"true" if error else "false"}, "result": {_json_string(message)}, '
        '"total_cost_usd": 0.0, "usage": {}}'
    )


def _json_string(text: str) -> str:
    try:  # the C encoder the json module itself uses, without importing json (and re)
        from _json import encode_basestring_ascii
    except ImportError:
        import json

        return json.dumps(text)
    return str(encode_basestring_ascii(text))


if __name__ == "__main__":
    # Run by path, Python put this file's folder first on sys.path, where its siblings
    # (base.py, command.py, ...) would shadow top-level modules of the same names.
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]
    sys.exit(main())
