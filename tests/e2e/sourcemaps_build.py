"""Builds of the source-map app (``sourcemaps_app/``) with the real esbuild and sentry-cli.

Each build is a directory holding ``app.min.js`` and ``app.min.js.map`` (the split browser
build also a chunk and its map; the browser builds ``index.html``), minified and mapped by
esbuild, with debug ids injected by ``sentry-cli sourcemaps inject`` unless the build is
plain. The truth the tests assert against comes from the sources themselves: every line
marked ``// frame:NAME`` is where a stack frame of the app's one error must resolve, in the
function NAME (``<top>``: the module's top level; ``<anonymous>``: an arrow function).
"""

from __future__ import annotations

import asyncio
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from tests.conformance.clients import NODE_MODULES, run
from tests.e2e.webapi_clients import SENTRY_CLI

APP = Path(__file__).with_name("sourcemaps_app")
ESBUILD = NODE_MODULES / ".bin" / "esbuild"
MODULES = ("pricing.js", "cart.js", "checkout.js")
#: The entry module per platform; "browser-split" loads the other modules with a dynamic
#: import, which esbuild --splitting makes a chunk of its own (another file, another map).
ENTRY = {"node": "node_main.js", "browser": "browser_main.js", "browser-split": "browser_split.js"}
MARKER = re.compile(r"//\s*frame:(\S+)")
DEBUG_ID_COMMENT = re.compile(r"^//# debugId=([0-9a-f-]{36})$", re.MULTILINE)


@dataclass(frozen=True)
class Frame:
    """Where a frame of the app's error comes from in the original source."""

    file: str  # the source file's name (as in sourcemaps_app/)
    output: str  # the name of the built file the frame is in
    line: int  # 1-based
    column: int  # 1-based: where the call (or the ``new Error``) starts
    function: str  # as symbolic names it: "<unknown>" at module top level, "<anonymous>" in an arrow
    text: str  # the whole source line


@dataclass(frozen=True)
class Build:
    name: str
    platform: str  # "node" | "browser"
    directory: Path
    label: str  # BUILD_LABEL, in the error message: tells two builds apart
    debug_ids: dict[str, str]  # built file name: what sentry-cli inject wrote (none if plain)
    sources: str  # the map's path to the sources' directory, e.g. "../src/"
    chunk: str | None  # the split build's chunk (the modules), else None

    @property
    def debug_id(self) -> str | None:
        return self.debug_ids.get("app.min.js")

    @property
    def bundle(self) -> Path:
        return self.directory / "app.min.js"

    @property
    def source_map(self) -> Path:
        return self.directory / "app.min.js.map"

    def expected_frames(self) -> list[Frame]:
        """The app's in-app frames, outermost first (the order of a Sentry stack trace)."""
        frames = expected_frames(self.platform)
        if self.chunk is None:
            return frames
        return [replace(f, output=self.chunk) if f.file in MODULES else f for f in frames]


#: The frames of the app's error, outermost first, each with what it calls (the V8 frame's
#: column is where that call starts). The outermost is the module's top level (``<top>``) or,
#: in the split build, the anonymous timer callback (``<anonymous>``).
CALLS = (
    ("<top>", "main("),
    ("<anonymous>", "main("),
    ("main", "checkout("),
    ("checkout", "totalOf("),
    ("totalOf", "priceOf("),
    ("priceOf", "new Error("),
)


def expected_frames(platform: str) -> list[Frame]:
    """The frames through the marked lines, all in ``app.min.js`` (a build's chunk is
    :meth:`Build.expected_frames`'s business)."""
    marked: dict[str, tuple[str, int, str]] = {}
    for name in (ENTRY[platform], *MODULES):
        for number, text in enumerate((APP / name).read_text().splitlines(), start=1):
            found = MARKER.search(text)
            if found:
                marked[found.group(1)] = (name, number, text)
    frames = []
    for key, call in CALLS:
        if key not in marked:
            continue
        name, number, text = marked[key]
        assert text.count(call) == 1, (name, number, call)
        function = "<unknown>" if key == "<top>" else key
        frames.append(Frame(name, "app.min.js", number, text.index(call) + 1, function, text))
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
        "--log-level=warning",
    ]
    if platform == "node":
        argv += [f"--outfile={directory / 'app.min.js'}", "--platform=node", "--format=cjs", "--external:@sentry/node"]
    else:
        argv += ["--format=esm", "--target=es2020"]
        if platform == "browser-split":
            argv += ["--splitting", f"--outdir={directory}", "--entry-names=app.min"]
        else:
            argv.append(f"--outfile={directory / 'app.min.js'}")
        shutil.copy(source / "index.html", directory / "index.html")
    if not sources_content:
        argv.append("--sources-content=false")
    _sync(argv, source)
    debug_ids = {}
    if inject:
        _sync([str(SENTRY_CLI), "sourcemaps", "inject", str(directory)], root)
        for file in directory.glob("*.js"):
            found = DEBUG_ID_COMMENT.search(file.read_text())
            assert found is not None, file
            debug_ids[file.name] = found.group(1)
    if not sources_content:
        shutil.rmtree(source)
    chunks = [f.name for f in directory.glob("*.js") if f.name != "app.min.js"]
    assert len(chunks) == (platform == "browser-split")
    return Build(name, platform, directory, label, debug_ids, f"../{source.name}/", chunks[0] if chunks else None)
