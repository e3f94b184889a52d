"""The small JavaScript app of tests/data/sourcemaps/app built with the real esbuild
(``--bundle --minify --sourcemap``) and run with node, for the source map tests: the
minified file, its map, and the frames V8 reported (line and column, 1-based as V8 counts).

``js_builds`` is a session fixture (import it into a test module like ``bugsink``); a test
that uses it fails in CI without node and esbuild, and skips elsewhere."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conformance.clients import NODE_MODULES, need_node

APP = Path(__file__).parent / "data" / "sourcemaps" / "app"
#: A V8 stack line: ``at name (file:line:col)`` or ``at file:line:col``.
_AT = re.compile(r"^\s*at (?:(?P<name>\S+) \()?(?P<file>.+?):(?P<line>\d+):(?P<col>\d+)\)?$")
#: The frames the app's error goes through, innermost first: original file, the text of the
#: original line, and the function that line is in.
EXPECTED = (
    ("util.js", 'throw new Error("config is not JSON: " + text);', "parseConfig"),
    ("settings.js", "return parseConfig(raw);", "loadSettings"),
    ("main.js", 'return loadSettings(globalThis.APP_NAME || "demo");', "startApp"),
)


@dataclass(frozen=True)
class Built:
    """One build: the minified file and its map, and V8's frames of the thrown error
    (innermost first) as ``(line, column)``."""

    minified: bytes
    map: bytes
    positions: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Builds:
    """The app built three ways: ``main``; ``other`` (another build: a banner shifts every
    position, as a changed source would); ``bare`` (a map without sourcesContent)."""

    main: Built
    other: Built
    bare: Built


def expected_line(file: str, text: str) -> int:
    """The 1-based line of ``text`` in the app's source ``file``."""
    lines = (APP / file).read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


def _build(node: str, out: Path, *extra: str) -> Built:
    esbuild = NODE_MODULES / ".bin" / "esbuild"
    target = out / "app.min.js"
    args = [str(esbuild), str(APP / "main.js"), "--bundle", "--minify", "--sourcemap", "--format=iife"]
    subprocess.run([*args, f"--outfile={target}", "--log-level=warning", *extra], check=True, timeout=60)
    ran = subprocess.run([node, str(target)], check=True, capture_output=True, text=True, timeout=60)
    stack = json.loads(ran.stdout.strip().splitlines()[-1])
    positions = tuple(
        (int(m["line"]), int(m["col"]))
        for line in stack.splitlines()[1:]
        if (m := _AT.match(line)) is not None and m["file"] == str(target)
    )
    return Built(target.read_bytes(), (out / "app.min.js.map").read_bytes(), positions)


@pytest.fixture(scope="session")
def js_builds(tmp_path_factory: pytest.TempPathFactory) -> Builds:
    node = need_node("esbuild")
    root = tmp_path_factory.mktemp("js-builds")
    made = {}
    for name, extra in (
        ("main", ()),
        ("other", ("--banner:js=var BUILD_B=1;",)),
        ("bare", ("--sources-content=false",)),
    ):
        (root / name).mkdir()
        made[name] = _build(node, root / name, *extra)
    return Builds(**made)
