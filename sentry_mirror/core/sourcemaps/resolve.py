"""Resolving one JavaScript frame against the uploads, with Sentry's own ``symbolic``.

A frame's file is found by the debug id the event gives it (``debug_meta.images`` of type
``sourcemap``), else by release, dist and URL (:mod:`.index`), as Sentry does. Its source map
is the bundle file of type ``source_map`` with the same debug id, or, by URL, the file the
minified file's ``sourcemap`` header or ``sourceMappingURL`` comment names. The position is
looked up in a ``symbolic.sourcemapcache.SourceMapCache``, built once per (minified file,
map) and reused. Frames give 1-based lines and columns (V8 and the browsers count columns
from 1, so do the SDKs); ``SourceMapCache.lookup`` takes and returns them 1-based too
(checked against esbuild's output in the tests). Every way to fail is an outcome
(:data:`OUTCOMES`), never an exception.
"""

from __future__ import annotations

import base64
import importlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from sentry_mirror.core.sourcemaps.bundle import BundleFile
from sentry_mirror.core.sourcemaps.events import Event, Frame
from sentry_mirror.core.sourcemaps.index import MINIFIED, SOURCE_MAP, Index, candidate_urls, join_url
from sentry_mirror.errors import MirrorError

RESOLVED = "resolved"
#: Each outcome's JSON name: what it means, and what fixes it (docs/sourcemaps.md lists them).
OUTCOMES: dict[str, tuple[str, str]] = {
    RESOLVED: ("resolved to the original file, line and function, with context lines", ""),
    "no_sources_content": (
        "resolved to file and line, but the map has no sourcesContent: no context lines",
        "build with sourcesContent (esbuild --sources-content, webpack's default) or upload the sources",
    ),
    "no_bundle_for_debug_id": (
        "the event gives the file a debug id no uploaded bundle has",
        "upload this build's files: sentry-cli sourcemaps upload after sentry-cli sourcemaps inject",
    ),
    "debug_id_not_in_event": (
        "an uploaded bundle has a debug id for this URL, but the event gives the file none",
        "deploy the files sentry-cli sourcemaps inject changed, and use an SDK that sends debug ids",
    ),
    "debug_id_not_in_bundle": (
        "the release's file at this URL has another debug id: its maps are for another build (stale)",
        "upload the maps of the build you deploy, after sentry-cli sourcemaps inject",
    ),
    "no_release": (
        "no debug id for the file and the event has no release",
        "inject debug ids (sentry-cli sourcemaps inject), or set the SDK's release and upload with --release",
    ),
    "no_upload_for_release": (
        "no bundle was uploaded for the event's release",
        "sentry-cli sourcemaps upload --release RELEASE (with --dist when events carry one)",
    ),
    "file_missing": (
        "no uploaded file matches the frame's URL (with the ~/ rule) for its release and dist",
        "upload the file, with --url-prefix so its URL matches abs_path (~/ matches any host)",
    ),
    "map_missing": (
        "the minified file was found but not its source map",
        "upload the .map next to the file; keep the sourceMappingURL comment or the debug id",
    ),
    "map_invalid": ("symbolic refuses the source map", "upload the map the bundler wrote, unchanged"),
    "position_out_of_range": (
        "the frame's line or column is past the end of the uploaded file, or has no mapping",
        "upload the file of the build that ran (a stale or different minified file)",
    ),
    "no_position": ("the frame has no line or column", "nothing to resolve: the SDK sent no position"),
    "skipped": (
        "no file to look up: node's own modules (node:internal/...), <anonymous>, native code",
        "nothing to do: not counted as unresolved",
    ),
}
SKIPPED = "skipped"
#: The outcomes whose frames have an original file and line.
RESOLVES = frozenset({RESOLVED, "no_sources_content"})
#: What a frame's file must look like to be looked up: an absolute path (``/srv/app.js``,
#: ``C:\\app.js``), a URL (``https://``, ``app:///``, ``file://``) or ``~/``.
_A_FILE = re.compile(r"^(/|~/|[A-Za-z]:[\\/]|[A-Za-z][A-Za-z0-9+.-]*://)")
CONTEXT_LINES = 5
_MAX_POSITION = (1 << 32) - 1
_INSTALL = "source map resolution needs Sentry's symbolic library: pip install symbolic (or pip install -e '.[sourcemaps]' in sentry-mirror's clone)"


def symbolic_available() -> bool:
    """Whether symbolic can be imported (the report asks before resolving anything)."""
    try:
        load_symbolic()
    except MirrorError:
        return False
    return True


def load_symbolic() -> Any:
    """``symbolic.sourcemapcache``; a MirrorError naming the install command without it."""
    try:
        return importlib.import_module("symbolic.sourcemapcache")
    except ImportError:
        raise MirrorError(_INSTALL) from None


@dataclass(frozen=True)
class Original:
    """Where a frame resolved to."""

    file: str | None
    line: int
    column: int
    function: str | None
    context_line: str | None
    pre_context: tuple[str, ...] = ()
    post_context: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resolution:
    """One frame's outcome; ``via`` is ``debug_id`` or ``release`` when a file was found."""

    outcome: str
    via: str | None = None
    debug_id: str | None = None
    detail: str | None = None
    original: Original | None = None


class Resolver:
    """Resolves frames against an :class:`~.index.Index`, keeping one cache per file pair."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.symbolic = load_symbolic()
        self.caches: dict[tuple[int, int], Any] = {}
        self.lines: dict[int, list[int]] = {}

    def resolve(self, event: Event, frame: Frame) -> Resolution:
        index = self.index
        if not _A_FILE.match(frame.abs_path):
            return Resolution(SKIPPED)
        debug_id = event.debug_id_of(frame)
        if debug_id is not None:
            files = index.by_debug_id.get(debug_id)
            if files:
                minified, mapped = files.get(MINIFIED), files.get(SOURCE_MAP)
                if minified is None:
                    return Resolution("file_missing", "debug_id", debug_id, "the bundle has the map but no file")
                if mapped is None:
                    return Resolution("map_missing", "debug_id", debug_id, "no source_map with this debug id")
                return self._lookup(minified, mapped, frame, "debug_id", debug_id)
        release = event.release
        found = index.release_file(release, event.dist, frame.abs_path) if release else None
        if debug_id is not None:
            if found is not None and found.debug_id not in (None, debug_id):
                return Resolution("debug_id_not_in_bundle", "release", debug_id, f"uploaded: {found.debug_id}")
            if found is None:
                return Resolution("no_bundle_for_debug_id", None, debug_id)
        elif found is None:
            if index.debug_id_for_url(frame.abs_path):
                return Resolution("debug_id_not_in_event", None, index.debug_id_for_url(frame.abs_path))
            if not release:
                return Resolution("no_release")
            if release not in index.releases:
                return Resolution("no_upload_for_release")
            return Resolution("file_missing", "release", detail=f"dist {event.dist}" if event.dist else None)
        assert found is not None and release is not None
        return self._by_release(event, release, frame, found, debug_id)

    def _by_release(
        self, event: Event, release: str, frame: Frame, minified: BundleFile, debug_id: str | None
    ) -> Resolution:
        reference = minified.sourcemap or _mapping_url(minified.content)
        if reference is None:
            return Resolution("map_missing", "release", debug_id, "no sourcemap header or sourceMappingURL")
        if reference.startswith("data:"):
            inline = _data_url(reference)
            if inline is None:
                return Resolution("map_invalid", "release", debug_id, "unreadable data: URL")
            mapped = BundleFile(minified.path + "#inline", minified.url, SOURCE_MAP, None, None, inline)
            return self._lookup(minified, mapped, frame, "release", debug_id)
        url = join_url(minified.url, reference)
        found = None
        for candidate in candidate_urls(url):
            found = self.index.release_url(release, event.dist, candidate)
            if found is not None:
                break
        if found is None:
            return Resolution("map_missing", "release", debug_id, f"not uploaded: {url}")
        return self._lookup(minified, found, frame, "release", debug_id)

    def _lookup(
        self, minified: BundleFile, mapped: BundleFile, frame: Frame, via: str, debug_id: str | None
    ) -> Resolution:
        line, column = frame.lineno, frame.colno
        if type(line) is not int or type(column) is not int:
            return Resolution("no_position", via, debug_id)
        lengths = self._line_lengths(minified)
        if not 1 <= line <= min(len(lengths), _MAX_POSITION) or not 1 <= column <= lengths[line - 1] + 1:
            return Resolution("position_out_of_range", via, debug_id, f"{line}:{column} in {minified.url}")
        cache = self._cache(minified, mapped)
        if isinstance(cache, str):
            return Resolution("map_invalid", via, debug_id, cache)
        token = cache.lookup(line, column, CONTEXT_LINES)
        if token is None:
            return Resolution("position_out_of_range", via, debug_id, f"no mapping at {line}:{column}")
        original = Original(
            file=token.src,
            line=token.line,
            column=token.col,
            function=token.function_name or token.name,
            context_line=token.context_line,
            pre_context=tuple(token.pre_context),
            post_context=tuple(token.post_context),
        )
        outcome = RESOLVED if token.context_line is not None else "no_sources_content"
        return Resolution(outcome, via, debug_id, None, original)

    def _line_lengths(self, file: BundleFile) -> list[int]:
        lengths = self.lines.get(id(file))
        if lengths is None:
            text = file.content.decode("utf-8", "replace")
            # in UTF-16 code units, as JavaScript engines count columns
            lengths = self.lines[id(file)] = [len(line.encode("utf-16-le")) // 2 for line in text.split("\n")]
        return lengths

    def _cache(self, minified: BundleFile, mapped: BundleFile) -> Any:
        key = (id(minified), id(mapped))
        cache = self.caches.get(key)
        if cache is None:
            try:
                cache = self.symbolic.SourceMapCache.from_bytes(minified.content, mapped.content)
            except Exception as error:  # symbolic raises its own SymbolicError tree
                cache = f"{mapped.url}: {str(error)[:200]}"
            self.caches[key] = cache
        return cache


def _mapping_url(content: bytes) -> str | None:
    """The last ``sourceMappingURL`` comment of a file (in its last 64 KiB, inline maps aside)."""
    tail = content[-(64 << 10) :]
    at = max(tail.rfind(b"//# sourceMappingURL="), tail.rfind(b"//@ sourceMappingURL="))
    if at < 0:
        if b"sourceMappingURL=data:" in content:
            at = content.rfind(b"sourceMappingURL=data:")
            return content[at + 17 :].split(b"\n", 1)[0].strip().decode("utf-8", "replace")
        return None
    value = tail[at + 21 :].split(b"\n", 1)[0].strip()
    return value.decode("utf-8", "replace") or None


def _data_url(url: str) -> bytes | None:
    head, _, data = url.partition(",")
    try:
        return base64.b64decode(data, validate=False) if head.endswith(";base64") else unquote_to_bytes(data)
    except ValueError:
        return None
