"""Builds of the source-map app (``sourcemaps_app/``) with the real esbuild and sentry-cli.

Each build is a directory holding ``app.min.js`` and ``app.min.js.map`` (and, for the
browser, ``index.html``), minified and mapped by esbuild, with debug ids injected by
``sentry-cli sourcemaps inject`` unless the build is ``plain``. The truth the tests assert
against comes from the sources themselves: every line marked ``// frame:NAME`` is where a
stack frame of the app's one error must resolve (``<top>``: module top level, no function).
"""

from __future__ import annotations

import asyncio
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from tests.conformance.clients import NODE_MODULES, run

APP = Path(__file__).with_name("sourcemaps_app")
ESBUILD = NODE_MODULES / ".bin" / "esbuild"
SENTRY_CLI = NODE_MODULES / ".bin" / "sentry-cli"
MODULES = ("pricing.js", "cart.js", "checkout.js")
ENTRY = {"node": "node_main.js", "browser": "browser_main.js"}
MARKER = re.compile(r"//\s*frame:(\S+)")
DEBUG_ID_COMMENT = re.compile(r"^//# debugId=([0-9a-f-]{36})$", re.MULTILINE)


@dataclass(frozen=True)
class Frame:
    """Where a frame of the app's error comes from in the original source."""

    file: str  # the source file's name (as in sourcemaps_app/)
    line: int  # 1-based
    column: int  # 1-based: where the call (or the ``new Error``) starts
    function: str | None  # None at module top level
    text: str  # the whole source line


@dataclass(frozen=True)
class Build:
    name: str
    platform: str  # "node" | "browser"
    directory: Path
    label: str  # BUILD_LABEL, in the error message: tells two builds apart
    debug_id: str | None  # what sentry-cli inject wrote, None for a plain build
    sources: str  # the map's path to the sources' directory, e.g. "../src/"

    @property
    def bundle(self) -> Path:
        return self.directory / "app.min.js"

    @property
    def source_map(self) -> Path:
        return self.directory / "app.min.js.map"

    def expected_frames(self) -> list[Frame]:
        """The app's in-app frames, outermost first (the order of a Sentry stack trace)."""
        return expected_frames(self.platform)


#: The frames of the app's error, outermost first, each with what it calls (the V8 frame's
#: column is where that call starts).
CALLS = (
    ("<top>", "main("),
    ("main", "checkout("),
    ("checkout", "totalOf("),
    ("totalOf", "priceOf("),
    ("priceOf", "new Error("),
)


def expected_frames(platform: str) -> list[Frame]:
    marked: dict[str, tuple[str, int, str]] = {}
    for name in (ENTRY[platform], *MODULES):
        for number, text in enumerate((APP / name).read_text().splitlines(), start=1):
            found = MARKER.search(text)
            if found:
                marked[found.group(1)] = (name, number, text)
    frames = []
    for key, call in CALLS:
        name, number, text = marked[key]
        assert text.count(call) == 1, (name, number, call)
        frames.append(Frame(name, number, text.index(call) + 1, None if key == "<top>" else key, text))
    return frames


def _sync(argv: list[str], cwd: Path) -> str:
    """Run a build tool from a synchronous (session) fixture: no event loop runs there."""
    ran = asyncio.run(
        run(
            argv,
            cwd=cwd,
            timeout=60,
            env={"HOME": str(cwd), "NODE_PATH": str(NODE_MODULES), "SENTRY_DISABLE_UPDATE_CHECK": "true"},
        )
    )
    assert 0 == ran.returncode, (argv, ran.stdout, ran.stderr)
    return ran.stdout


def build(
    root: Path, name: str, platform: str, *, label: str, inject: bool = True, sources_content: bool = True
) -> Build:
    """esbuild ``--bundle --minify --sourcemap`` the app into ``root/name``, then inject.

    Without sources content the build's sources are removed once built, as when CI uploads
    from another machine: sentry-cli would otherwise inline them from disk when uploading."""
    source = root / ("src" if sources_content else f"{name}-src")
    if not source.is_dir():
        shutil.copytree(APP, source)
    directory = root / name
    directory.mkdir()
    argv = [
        str(ESBUILD),
        ENTRY[platform],
        "--bundle",
        "--minify",
        "--sourcemap",
        f"--define:BUILD_LABEL={label!r}".replace("'", '"'),
        f"--outfile={directory / 'app.min.js'}",
        "--log-level=warning",
    ]
    if platform == "node":
        argv += ["--platform=node", "--format=cjs", "--external:@sentry/node"]
    else:
        argv += ["--format=esm", "--target=es2020"]
        shutil.copy(source / "index.html", directory / "index.html")
    if not sources_content:
        argv.append("--sources-content=false")
    _sync(argv, source)
    debug_id = None
    if inject:
        _sync([str(SENTRY_CLI), "sourcemaps", "inject", str(directory)], root)
        found = DEBUG_ID_COMMENT.search(directory.joinpath("app.min.js").read_text())
        assert found is not None
        debug_id = found.group(1)
    if not sources_content:
        shutil.rmtree(source)
    return Build(name, platform, directory, label, debug_id, f"../{source.name}/")
