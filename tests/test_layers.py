"""The pure core imports no I/O or presentation package and opens no file."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sentry_mirror

PACKAGE = Path(sentry_mirror.__file__).parent
CORE_FILES = [*sorted((PACKAGE / "core").rglob("*.py")), PACKAGE / "errors.py"]
BANNED_IMPORTS = {"aiohttp", "asyncio", "click", "rich", "socket", "sentry_mirror.io", "sentry_mirror.ui"}
BANNED_CALLS = {"open"}


def _imports(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_module_is_pure(path: Path) -> None:
    tree = ast.parse(path.read_text())
    banned = {name for name in _imports(tree) if any(name == b or name.startswith(b + ".") for b in BANNED_IMPORTS)}
    calls = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in BANNED_CALLS
    }
    assert (set(), set()) == (banned, calls)


def test_io_layer_does_not_import_presentation() -> None:
    for path in sorted((PACKAGE / "io").glob("*.py")):
        imports = _imports(ast.parse(path.read_text()))
        assert set() == {
            n for n in imports if n.split(".")[0] in ("click", "rich") or n.startswith("sentry_mirror.ui")
        }, path
