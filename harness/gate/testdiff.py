"""Which tests of a Python test file a push changed, from the two versions' syntax trees.

A test is changed when its own definition differs (body, decorators such as skip or xfail,
parametrize lists), when it is gone (deleted or renamed), or when anything it may depend
on in the same file differs: a helper function, a fixture, an import, a module-level
assignment (``pytestmark``), a class's other methods. Adding a new test, a new helper, a
constant or an import, each binding a fresh name, changes no existing test. Comments and
formatting never count. A file that does not parse counts as changing every test in it.

The gate adds a second, semantic check on top (judge.py): a test whose outcome in its new
form differs from its old form's is changed too, whatever this module says.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass, field

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
# Names pytest itself reads from a module or class: binding one changes how every test runs.
_PYTEST_NAMES = frozenset({"pytestmark", "pytest_plugins", "__test__", "collect_ignore", "collect_ignore_glob"})


@dataclass(frozen=True)
class FileDiff:
    """``every``: all tests of the file changed; else the changed names, ``test_x`` or
    ``TestC::test_m`` (a whole class: ``TestC``)."""

    every: bool = False
    names: frozenset[str] = field(default_factory=frozenset)

    def covers(self, test_id: str) -> bool:
        """Does this diff change the test ``path::A::B[param]``?"""
        if self.every:
            return True
        parts = test_id.split("[", 1)[0].split("::")[1:]
        if not parts:  # the file itself (a collection error): any change touches it
            return True
        return parts[0] in self.names or "::".join(parts[:2]) in self.names


EVERY = FileDiff(every=True)


def diff_test_file(old: bytes, new: bytes | None) -> FileDiff:
    if new is None:
        return EVERY
    if old == new:
        return FileDiff()
    try:
        old_tree, new_tree = ast.parse(old), ast.parse(new)
    except (SyntaxError, ValueError):
        return EVERY
    changed = _diff_body(old_tree.body, new_tree.body, top=True)
    return EVERY if changed is None else FileDiff(names=frozenset(changed))


def _dump(node: ast.AST) -> str:
    return ast.dump(node, annotate_fields=False, include_attributes=False)


def _is_test(name: str, top: bool) -> bool:
    # pytest's defaults: functions and methods test*, classes Test*.
    return name.startswith("test") or (top and name.startswith("Test"))


def _definitions(body: Sequence[ast.stmt]) -> dict[str, ast.stmt] | None:
    defs: dict[str, ast.stmt] = {}
    for stmt in body:
        if isinstance(stmt, _DEFS):
            if stmt.name in defs:
                return None  # a redefinition: which one runs depends on order; call it all changed
            defs[stmt.name] = stmt
    return defs


def _bound_names(body: Sequence[ast.stmt]) -> set[str]:
    names: set[str] = set()
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, _DEFS):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.alias):
                names.add((node.asname or node.name).split(".")[0])
    return names


def _fresh_binding(stmt: ast.stmt, bound: set[str]) -> bool:
    """An import or a plain assignment that binds only names the old file never bound: no
    old test can have used them (one that failed on the missing name changes outcome, and
    the gate's outcome check catches that)."""
    taken = bound | _PYTEST_NAMES
    if isinstance(stmt, ast.Import | ast.ImportFrom):
        return all((a.asname or a.name).split(".")[0] not in taken and a.name != "*" for a in stmt.names)
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
    return bool(targets) and all(isinstance(t, ast.Name) and t.id not in taken for t in targets)


def _diff_body(old: Sequence[ast.stmt], new: Sequence[ast.stmt], top: bool) -> set[str] | None:
    """Changed test names in a module or class body; None: every test in it changed."""
    old_defs, new_defs = _definitions(old), _definitions(new)
    if old_defs is None or new_defs is None:
        return None
    bound = _bound_names(old)
    old_rest = [_dump(s) for s in _code(old) if not isinstance(s, _DEFS)]
    # Other statements must stay as they were, in order; only bindings of fresh names may join.
    kept = [_dump(s) for s in _code(new) if not isinstance(s, _DEFS) and not _fresh_binding(s, bound)]
    if kept != old_rest:
        return None
    if any(name in bound and name not in old_defs for name in new_defs):
        return None  # a new definition rebinds a name the old file bound otherwise
    changed: set[str] = set()
    for name, node in old_defs.items():
        other = new_defs.get(name)
        if other is not None and _dump(node) == _dump(other):
            continue
        if not _is_test(name, top):
            return None  # a helper, fixture or non-test class: any test may use it
        inner = _class_diff(node, other) if top else None
        changed |= {f"{name}::{m}" for m in inner} if inner is not None else {name}
    return changed


def _code(body: Sequence[ast.stmt]) -> Sequence[ast.stmt]:
    """The body without its docstring: rewording one changes no test."""
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return body[1:]
    return body


def _class_diff(old: ast.stmt, new: ast.stmt | None) -> set[str] | None:
    """Changed methods of a test class whose header (decorators, bases) is unchanged."""
    if not isinstance(old, ast.ClassDef) or not isinstance(new, ast.ClassDef):
        return None

    def header(node: ast.ClassDef) -> list[str]:
        return [_dump(n) for n in (*node.decorator_list, *node.bases, *node.keywords)]

    return _diff_body(old.body, new.body, top=False) if header(old) == header(new) else None
