"""Limits that hold the codebase's shape: modules of one idea, functions that fit a screen.

Every module under ``sentry_mirror/`` has at most :data:`MAX_MODULE_LINES` lines and every
function at most :data:`MAX_FUNCTION_LINES` (from its ``def`` to its last line, decorators
excluded, docstring included). A measured hot path that is faster as one function may be
listed in :data:`EXCEPTIONS` with the reason; an entry that no longer needs to be there fails
the test, so the list only shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sentry_mirror

PACKAGE = Path(sentry_mirror.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60

#: ``"path/inside/package.py:qualified.name"``: why it stays long (a benchmark that shows it).
EXCEPTIONS: dict[str, str] = {}


def _name(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _functions(tree: ast.AST, prefix: str = "") -> list[tuple[str, int]]:
    found = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            name = prefix + node.name
            found.append((name, (node.end_lineno or node.lineno) - node.lineno + 1))
            found += _functions(node, name + ".")
        elif isinstance(node, ast.ClassDef):
            found += _functions(node, prefix + node.name + ".")
    return found


def _long_functions() -> dict[str, int]:
    return {
        f"{_name(path)}:{name}": length
        for path in MODULES
        for name, length in _functions(ast.parse(path.read_text()))
        if length > MAX_FUNCTION_LINES
    }


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_module_is_at_most_500_lines(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_MODULE_LINES


def test_functions_fit_a_screen() -> None:
    assert set() == set(_long_functions()) - set(EXCEPTIONS)


def test_exceptions_are_still_needed() -> None:
    assert set() == set(EXCEPTIONS) - set(_long_functions())


def test_the_measure_sees_nested_and_method_functions() -> None:
    tree = ast.parse("class A:\n    def f(self):\n        def g():\n            pass\n        return g\n")
    assert [("A.f", 4), ("A.f.g", 2)] == _functions(tree)
