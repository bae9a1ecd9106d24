"""The prompt of one session: a header the loop writes (who, which task, how to finish)
followed by the role's prompt from the work repo (``prompts/<role>.md``, or the path
harness.yaml gives the role), falling back to the prompt harness ships.

A fresh session knows nothing else: the header says so and points at the repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.loop.config import LoopMode
from harness.resources import prompt_dir
from harness.tasks.specs import TaskSpec
from harness.workspace import Workspace


@dataclass(frozen=True, kw_only=True)
class PromptInput:
    role: str
    iteration: int
    mode: LoopMode  # queue or open (auto is decided by then)
    task: TaskSpec | None
    task_id: str | None


def role_prompt(ws: Workspace, role: str) -> str:
    settings = ws.config.roles.get(role)
    candidates = [ws.root / settings.prompt] if settings else []
    candidates.append(ws.root / "prompts" / f"{role}.md")
    shipped = prompt_dir()
    if shipped is not None:
        candidates.append(shipped / f"{role}.md")
    for path in candidates:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return f"# Role: {role}\n\nNo prompt file prompts/{role}.md exists yet; work on the task below.\n"


def render(ws: Workspace, data: PromptInput) -> str:
    lines = [
        f"You are agent `{ws.agent}` (role `{data.role}`), iteration {data.iteration} of an unattended loop.",
        "This is a fresh session: you remember nothing. Read README.md, the progress notes and",
        "`git log` first. Other agents push to the same `main` while you work.",
        "",
    ]
    if data.mode is LoopMode.QUEUE and data.task_id:
        lines += _queue_lines(data)
    else:
        lines += [
            "## Your task: choose one",
            f"Run `harness tasks next --role {data.role}` (or `harness status`) and claim ONE task with",
            f"`harness claim TASK --role {data.role}`. Exit 3 or 4 means: pick another one.",
            "When finished, `harness release TASK --done` pushes your commits with the release",
            "(a task whose spec names `accept:` tests is done only when the gate sees them pass);",
            "`harness release TASK --abandon` hands the task back. The loop hands back any lock you",
            "leave behind when the session ends.",
        ]
    lines += ["", "---", ""]
    return "\n".join(lines) + role_prompt(ws, data.role)


def _queue_lines(data: PromptInput) -> list[str]:
    spec = data.task
    lines = [f"## Your task: `{data.task_id}` (already claimed for you)"]
    if spec is not None:
        lines.append(f"**{spec.title}**")
        if spec.body.strip():
            lines += ["", spec.body.strip()]
        if spec.files:
            lines += ["", f"Files this task touches: {', '.join(spec.files)}"]
        if spec.accept:
            lines += ["", *acceptance_lines(spec)]
    lines += [
        "",
        "Commit your work in small commits on the current branch and exit. Do NOT push and do NOT",
        "run `harness release`: when you exit 0 the loop rebases your commits onto upstream,",
        "runs the gate and releases the task with them. Exit non-zero if you cannot finish:",
        "the task is handed back and your commits are kept on a side ref.",
        "Print `ERROR <what>: <why>` lines for problems the next agent must know about.",
    ]
    return lines


def acceptance_lines(spec: TaskSpec) -> list[str]:
    """What decides the task: its acceptance tests, as the gate will judge them."""
    return [
        "Acceptance: this task is done only when these tests pass in the gate, in their form on",
        "main (the gate runs them as main has them; editing them does not count):",
        *(f"- `{test}`" for test in spec.accept),
        "Run them with `harness test` (or pytest on the ids) before you finish.",
    ]


def write_prompt(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
