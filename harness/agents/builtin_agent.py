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
It imports only the standard library (and PyYAML when it must read a spec itself), so a
session starts in ~30 ms.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from harness.markers import keep_both_sides


def main() -> int:
    root = Path.cwd()
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
    _git(root, "add", "-A")
    # Nothing staged makes `git commit` exit 1 and commit nothing, which is what we want.
    _git(root, "commit", "--quiet", "-m", f"{task}: {spec.get('title') or task}", check=False)
    if open_mode:
        _release(root, task)
    _report(f"builtin agent: applied task {task}")
    return 0


def _apply(root: Path, body: str) -> int:
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
            _edit(root / arg, op, first, second)
    return 0


def _block(lines: list[str], i: int, ends: tuple[str, ...]) -> tuple[list[str], int]:
    start = i
    while i < len(lines) and lines[i].strip() not in ends:
        i += 1
    return lines[start:i], i + 1


def _edit(path: Path, op: str, first: list[str], second: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if op == "@write":
        new = "".join(f"{line}\n" for line in first)
    elif op == "@append":
        new = old + ("" if not old or old.endswith("\n") else "\n") + "".join(f"{line}\n" for line in first)
    else:
        before = "".join(f"{line}\n" for line in first)
        new = old.replace(before, "".join(f"{line}\n" for line in second), 1)
    path.write_text(new, encoding="utf-8")


def _resolve(root: Path) -> int:
    files = _git(root, "diff", "--name-only", "--diff-filter=U").stdout.split()
    for name in files:
        path = root / name
        path.write_text(keep_both_sides(path.read_text(encoding="utf-8")), encoding="utf-8")
        _git(root, "add", "--", name)
    _report(f"builtin agent: resolved {len(files)} file(s) by keeping both sides")
    return 0


def _spec_from_env(task: str) -> dict[str, object] | None:
    """The title and body the loop handed over for ``task`` (work sessions in queue mode)."""
    if os.environ.get("HARNESS_TASK") != task or "HARNESS_TASK_BODY" not in os.environ:
        return None
    return {"title": os.environ.get("HARNESS_TASK_TITLE") or task, "body": os.environ["HARNESS_TASK_BODY"]}


def _read_spec(root: Path, task: str) -> dict[str, object] | None:
    import yaml  # here, not at the top: a queue-mode session gets its spec without it

    path = f"tasks/{task}.yaml"
    proc = _git(root, "show", f"refs/remotes/origin/main:{path}", check=False)
    text = proc.stdout if proc.returncode == 0 else None
    if text is None and (root / path).exists():
        text = (root / path).read_text(encoding="utf-8")
    data = yaml.safe_load(text) if text else None
    return data if isinstance(data, dict) else None


def _claim_next(root: Path) -> str:
    from harness.errors import HarnessError
    from harness.locks import claim
    from harness.taskops import next_choice, snapshot_at_tip
    from harness.workspace import open_workspace

    ws = open_workspace(root, os.environ.get("HARNESS_AGENT"))
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


def _release(root: Path, task: str) -> None:
    from harness.release import Outcome, release
    from harness.workspace import open_workspace

    release(open_workspace(root, os.environ.get("HARNESS_AGENT")), task, Outcome.DONE)


def _git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    agent = os.environ.get("HARNESS_AGENT") or "builtin"
    env = {**os.environ, "GIT_AUTHOR_NAME": agent, "GIT_AUTHOR_EMAIL": f"{agent}@harness.invalid"}
    env.update({"GIT_COMMITTER_NAME": agent, "GIT_COMMITTER_EMAIL": f"{agent}@harness.invalid"})
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, env=env, check=check)


def _report(message: str, error: bool = False) -> None:
    """A Claude-style result line, so the loop reads usage the same way for every agent."""
    result = {"type": "result", "is_error": error, "result": message, "total_cost_usd": 0.0, "usage": {}}
    print(message)
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
