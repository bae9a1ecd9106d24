"""Dependencies that can never be met: cycles, and ids that have no task spec.

A task waiting for an unfinished dependency is normal (it becomes claimable later). One
whose ``depends_on`` closes a cycle, or names a task with no spec, never will: the claim
says so by name, ``tasks list`` and ``status`` show it, and an idle ``loop
--exit-when-idle`` does not wait for it. ``tasks add`` refuses to create either.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence


def dependency_problems(open_deps: Mapping[str, Sequence[str]], known: Collection[str]) -> dict[str, str]:
    """For each open task (``open_deps``: task -> its ``depends_on``) that can never become
    claimable, why. ``known``: every task with a spec, open or done."""
    roots: dict[str, str] = {}
    for task in sorted(open_deps):
        cycle = cycle_through(open_deps, task)
        missing = [dep for dep in open_deps[task] if dep not in known]
        if cycle:
            roots[task] = f"dependency cycle {' -> '.join(cycle)}; remove one of these depends_on entries"
        elif missing:
            roots[task] = (
                f"depends on {missing[0]}, which has no task spec (tasks/{missing[0]}.yaml); "
                f"add it, or drop it from depends_on in tasks/{task}.yaml"
            )
    problems = dict(roots)
    root_of = {task: task for task in roots}
    changed = True
    while changed:  # a task waiting (transitively) for a stuck one is stuck too
        changed = False
        for task in sorted(open_deps):
            blocker = next((dep for dep in open_deps[task] if dep in problems), None)
            if task not in problems and blocker is not None:
                root = root_of[blocker]
                problems[task] = f"waits for {blocker}, which can never be done ({root}: {roots[root]})"
                root_of[task] = root
                changed = True
    return problems


def cycle_through(open_deps: Mapping[str, Sequence[str]], start: str) -> list[str]:
    """A dependency cycle from ``start`` back to it (``[a, b, a]``), or [] if there is none."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        task, path = stack.pop()
        for dep in open_deps.get(task, ()):
            if dep == start:
                return [*path, start]
            if dep in open_deps and dep not in seen:
                seen.add(dep)
                stack.append((dep, [*path, dep]))
    return []
