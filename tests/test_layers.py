"""The layers hold: the pure core imports no I/O or presentation package and opens no file,
io imports no presentation, and the package's import graph has no cycle."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import sentry_mirror

PACKAGE = Path(sentry_mirror.__file__).parent
CORE_FILES = [*sorted((PACKAGE / "core").rglob("*.py")), PACKAGE / "errors.py"]
IO_FILES = sorted((PACKAGE / "io").rglob("*.py"))
BANNED_IMPORTS = {"aiohttp", "asyncio", "click", "rich", "socket", "sentry_mirror.io", "sentry_mirror.ui"}
BANNED_CALLS = {"open"}
#: Layers bottom up: a module may import its own layer and those below it, never above.
LAYERS = ("sentry_mirror.core", "sentry_mirror.io", "sentry_mirror.ui", "sentry_mirror.testing")


def _imports(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _relative(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


@pytest.mark.parametrize("path", CORE_FILES, ids=_relative)
def test_core_module_is_pure(path: Path) -> None:
    tree = ast.parse(path.read_text())
    banned = {name for name in _imports(tree) if any(name == b or name.startswith(b + ".") for b in BANNED_IMPORTS)}
    calls = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in BANNED_CALLS
    }
    assert (set(), set()) == (banned, calls)


@pytest.mark.parametrize("path", IO_FILES, ids=_relative)
def test_io_layer_does_not_import_presentation(path: Path) -> None:
    imports = _imports(ast.parse(path.read_text()))
    assert set() == {n for n in imports if n.split(".")[0] in ("click", "rich") or n.startswith("sentry_mirror.ui")}


# ---------------------------------------------------------------- the whole package's import graph


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _targets(name: str, path: Path) -> Iterator[str]:
    """The package modules ``name`` imports, wherever the import stands (in a function too):
    ``from pkg import mod`` is an edge to ``pkg.mod`` when that is a module, else to ``pkg``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}".rstrip(".")
            candidates = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in MODULES:  # `import a.b.c` of a name inside a module
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                yield candidate


def import_graph() -> dict[str, set[str]]:
    """Every module of the package (packages included) and the package modules it imports."""
    return {name: set(_targets(name, path)) for name, path in MODULES.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle (``[a, b, a]``), or ``[]`` when there is none."""
    done: set[str] = set()
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> list[str]:
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target in on_stack:
                return [*stack[stack.index(target) :], target]
            if target not in done:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        on_stack.discard(node)
        done.add(node)
        return []

    for node in sorted(graph):
        if node not in done:
            found = visit(node)
            if found:
                return found
    return []


def _layer(name: str) -> int:
    return next((index for index, layer in enumerate(LAYERS) if name == layer or name.startswith(layer + ".")), -1)


def test_the_graph_covers_every_module_and_package() -> None:
    graph = import_graph()
    assert {"sentry_mirror", "sentry_mirror.core", "sentry_mirror.ui.cli", "sentry_mirror.ui.commands"} <= set(graph)
    assert "sentry_mirror.ui.commands.inspect" in graph["sentry_mirror.ui.cli"]  # `from pkg import module`
    assert "sentry_mirror.io.listener" in graph["sentry_mirror.ui.commands.listen"]  # imported inside a function


def test_the_package_has_no_import_cycle() -> None:
    assert [] == find_cycle(import_graph())


def test_find_cycle_finds_one() -> None:
    assert ["a", "b", "c", "a"] == find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert [] == find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()})


def test_layers_import_only_downwards() -> None:
    """core imports no io, ui or testing module, io no ui or testing module, ui no testing module:
    function-level imports included."""
    upwards = {
        (name, target)
        for name, targets in import_graph().items()
        for target in targets
        if _layer(name) >= 0 and _layer(target) > _layer(name)
    }
    assert set() == upwards
