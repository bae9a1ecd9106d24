"""The layout's rules (DESIGN.md, Layers; docs/layout.md), checked on the source with ``ast``.

Every import counts, those inside functions and ``if TYPE_CHECKING:`` blocks included: a lazy
import still ties two modules together, and a cycle hidden in a function is still a cycle.
Each rule is a plain function of the import graph, so its own test can plant a violation and
watch it fail.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
Graph = Mapping[str, frozenset[str]]

# Who may start child processes: the git layer (its command choke point and its persistent
# object reader), and one runner for every other child. The builtin agent's program is exempt:
# it is the agent, not harness (it runs git as an agent would, and imports no harness process
# code so that it starts fast).
SUBPROCESS_ALLOWED = {
    "harness.git.repo",
    "harness.git.spawn",  # how the choke point starts one git (a push detached in its own group)
    "harness.git.objects",
    "harness.runtime.process",
    "harness.agents.builtin_agent",
}
DOCKER_ALLOWED = {"harness.runtime.docker", "harness.runtime.image"}
MAX_MODULE_LINES = 400
MAX_TOP_LEVEL_MODULES = 15


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, name: str, known: set[str]) -> Iterator[str]:
    """Every module ``name`` imports: harness modules resolved to the deepest known one,
    anything else by its top-level name (``click``, ``docker``, ``subprocess``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield _resolve(alias.name, known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                yield _resolve(f"{base}.{alias.name}", known)


def _resolve(dotted: str, known: set[str]) -> str:
    if dotted in known:
        return dotted
    head = dotted.split(".")[0]
    if head not in {m.split(".")[0] for m in known}:
        return head
    while dotted and dotted not in known:
        dotted = dotted.rpartition(".")[0]
    return dotted


def import_graph(src: Path, package: str = "harness") -> dict[str, frozenset[str]]:
    paths = {module_name(p, src): p for p in (src / package).rglob("*.py")}
    known = set(paths)
    return {name: frozenset(imports_of(path, name, known)) - {name} for name, path in paths.items()}


def cycles(graph: Graph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root] & graph.keys())))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child] & graph.keys()))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def importers(graph: Graph, target: str) -> set[str]:
    """Modules importing ``target`` or anything inside it."""
    return {m for m, deps in graph.items() if any(d == target or d.startswith(target + ".") for d in deps)}


def outside(modules: Iterable[str], allowed: set[str]) -> list[str]:
    return sorted(m for m in modules if m not in allowed)


GRAPH = import_graph(ROOT)


def test_no_import_cycles() -> None:
    assert cycles(GRAPH) == []


def test_a_planted_cycle_is_found_even_through_a_function_level_import(tmp_path: Path) -> None:
    pkg = tmp_path / "planted"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from planted.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def later():\n    from planted import c\n")
    (pkg / "c.py").write_text("from . import a\n")
    (pkg / "d.py").write_text("import planted.a\n")  # imports the cycle, is not part of it
    assert cycles(import_graph(tmp_path, "planted")) == [["planted.a", "planted.c", "planted.sub.b"]]


def test_click_only_in_the_cli() -> None:
    assert outside(importers(GRAPH, "click"), {m for m in GRAPH if m.startswith("harness.cli")}) == []


def test_docker_sdk_only_in_the_docker_runtime() -> None:
    assert outside(importers(GRAPH, "docker"), DOCKER_ALLOWED) == []


def test_child_processes_only_through_git_and_the_process_runner() -> None:
    assert outside(importers(GRAPH, "subprocess"), SUBPROCESS_ALLOWED) == []


def test_only_the_entry_point_imports_the_cli() -> None:
    cli = {m for m in GRAPH if m == "harness.cli" or m.startswith("harness.cli.")}
    assert outside(importers(GRAPH, "harness.cli"), cli | {"harness.__main__"}) == []


def test_the_rules_catch_planted_violations(tmp_path: Path) -> None:
    pkg = tmp_path / "harness"
    (pkg / "cli").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "cli" / "__init__.py").write_text("import click\n")
    (pkg / "locks.py").write_text("def f():\n    import click\n    import subprocess\n    from harness import cli\n")
    graph = import_graph(tmp_path)
    assert outside(importers(graph, "click"), {"harness.cli"}) == ["harness.locks"]
    assert outside(importers(graph, "subprocess"), SUBPROCESS_ALLOWED) == ["harness.locks"]
    assert outside(importers(graph, "harness.cli"), {"harness.cli"}) == ["harness.locks"]


def test_modules_stay_small_and_the_top_level_stays_short() -> None:
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines()) for p in (ROOT / "harness").rglob("*.py")}
    assert {path: n for path, n in sizes.items() if n > MAX_MODULE_LINES} == {}
    top = [p.name for p in (ROOT / "harness").glob("*.py")]
    assert len(top) <= MAX_TOP_LEVEL_MODULES, sorted(top)


def test_no_module_imports_gitpython() -> None:
    """GitPython was measured and left out (docs/git.md): git runs through git/ alone."""
    assert outside(importers(GRAPH, "git"), set()) == []
