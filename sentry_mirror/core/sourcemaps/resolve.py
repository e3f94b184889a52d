"""Resolving one JavaScript frame against the uploads, with Sentry's own ``symbolic``.

A frame's file is found by the debug id the event gives it (``debug_meta.images`` of type
``sourcemap``), else by release, dist and URL (:mod:`.index`), as Sentry does. Its source map
is the bundle file of type ``source_map`` with the same debug id, or, by URL, the file the
minified file's ``sourcemap`` header or ``sourceMappingURL`` comment names. The position is
looked up in a ``symbolic.sourcemapcache.SourceMapCache``, built once per (minified file,
map) and reused. Frames give 1-based lines and columns (V8 and the browsers count columns
from 1, so do the SDKs); ``SourceMapCache.lookup`` takes and returns them 1-based too
(checked against esbuild's output in the tests). A map without ``sourcesContent`` takes its
context lines from the uploaded source file it names, as Symbolicator does. Files are
inflated when first needed (:class:`~.bundle.Contents`). Every way to fail is an outcome
(:data:`OUTCOMES`), never an exception.
"""

from __future__ import annotations

import base64
import importlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from sentry_mirror.core.sourcemaps.bundle import BundleError, BundleFile, Contents
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
    "dist_mismatch": (
        "the release has the file, but uploaded with another dist than the event's",
        "upload with the dist the events carry (sentry-cli sourcemaps upload --dist DIST), or set the SDK's dist",
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
    "file_unreadable": (
        "the bundle's file (or its map) cannot be inflated: damaged, or past the size limits",
        "upload the bundle again (sentry-cli sourcemaps upload); keep each file under 64 MiB",
    ),
    "position_out_of_range": (
        "the frame's line or column is past the end of the uploaded file, or has no mapping",
        "upload the file of the build that ran (a stale or different minified file)",
    ),
    "no_position": ("the frame has no line number", "nothing to resolve: the SDK sent no position"),
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
    """Resolves frames against an :class:`~.index.Index`: files inflated when first needed
    (:class:`~.bundle.Contents`), one cache per (file, map), each file's map reference read
    once (an inline ``data:`` map decoded once per file)."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.symbolic = load_symbolic()
        self.contents = Contents()
        self.caches: dict[tuple[int, int], Any] = {}
        self.lines: dict[int, list[int]] = {}
        self.references: dict[int, str | None] = {}
        self.sources: dict[tuple[str, str, str | None, str | None], tuple[str, ...] | None] = {}

    def resolve(self, event: Event, frame: Frame) -> Resolution:
        try:
            return self._resolve(event, frame)
        except BundleError as error:  # a file of a bundle could not be inflated
            return Resolution("file_unreadable", detail=str(error)[:300])

    def _resolve(self, event: Event, frame: Frame) -> Resolution:
        index = self.index
        if not _A_FILE.match(frame.abs_path):
            return Resolution(SKIPPED)
        debug_id = event.debug_id_of(frame)
        if debug_id is not None and debug_id in index.by_debug_id:
            minified, mapped = index.debug_file(debug_id, MINIFIED), index.debug_file(debug_id, SOURCE_MAP)
            if minified is None:
                return Resolution("file_missing", "debug_id", debug_id, "the bundle has the map but no file")
            if mapped is None:
                return Resolution("map_missing", "debug_id", debug_id, "no source_map with this debug id")
            return self._lookup(minified, mapped, frame, (event, "debug_id", debug_id))
        release = event.release
        found = index.release_file(release, event.dist, frame.abs_path) if release else None
        if found is not None:
            assert release is not None
            if debug_id is not None and found.debug_id not in (None, debug_id):
                return Resolution("debug_id_not_in_bundle", "release", debug_id, f"uploaded: {found.debug_id}")
            return self._by_release(event, release, frame, found, debug_id)
        if debug_id is not None:
            return Resolution("no_bundle_for_debug_id", None, debug_id)
        if index.debug_id_for_url(frame.abs_path):
            return Resolution("debug_id_not_in_event", None, index.debug_id_for_url(frame.abs_path))
        if not release:
            return Resolution("no_release")
        if release not in index.dists:
            return Resolution("no_upload_for_release")
        dists = index.dists_with(release, frame.abs_path)
        if dists:
            detail = f"uploaded with dist {_dist(dists[0])}; the event has {_dist(event.dist)}: pass --dist"
            return Resolution("dist_mismatch", "release", detail=detail)
        return Resolution("file_missing", "release", detail=f"dist {event.dist}" if event.dist else None)

    def _by_release(
        self, event: Event, release: str, frame: Frame, minified: BundleFile, debug_id: str | None
    ) -> Resolution:
        reference = self._reference(minified)
        if reference is None:
            return Resolution("map_missing", "release", debug_id, "no sourcemap header or sourceMappingURL")
        if reference.startswith("data:"):
            return self._lookup(minified, reference, frame, (event, "release", debug_id))
        url = join_url(minified.url, reference)
        found = None
        for candidate in candidate_urls(url):
            found = self.index.release_url(release, event.dist, candidate)
            if found is not None:
                break
        if found is None:
            return Resolution("map_missing", "release", debug_id, f"not uploaded: {url}")
        return self._lookup(minified, found, frame, (event, "release", debug_id))

    def _lookup(
        self, minified: BundleFile, mapped: BundleFile | str, frame: Frame, how: tuple[Event, str, str | None]
    ) -> Resolution:
        """``frame`` in ``minified`` through ``mapped`` (a file, or an inline ``data:`` URL).
        A missing or 0 column is column 1, as Symbolicator reads it (``colno`` defaults to 0,
        and it looks up ``col.saturating_sub(1)``): only the line must be given."""
        event, via, debug_id = how
        line, column = frame.lineno, frame.colno or 1
        if line is None:
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
        line_at = None if token.context_line is None else _line(token.context_line)
        context: tuple[str | None, tuple[str, ...], tuple[str, ...]] = (
            line_at,
            tuple(map(_line, token.pre_context)),
            tuple(map(_line, token.post_context)),
        )
        if token.context_line is None and token.src:
            holder = mapped if isinstance(mapped, BundleFile) else minified  # an inline map is in the file
            context = self._source_context(event, holder, join_url(holder.url, token.src), token.line)
        original = Original(token.src, token.line, token.col, token.function_name or token.name, *context)
        outcome = RESOLVED if original.context_line is not None else "no_sources_content"
        return Resolution(outcome, via, debug_id, None, original)

    def _source_context(
        self, event: Event, mapped: BundleFile, url: str, line: int
    ) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
        """The context of ``line`` in the uploaded ``source`` file at ``url`` (Symbolicator's
        fallback when the map has no sourcesContent): in the map's bundle, else the release's."""
        lines = self._source(event, mapped, url)
        if lines is None or not 1 <= line <= len(lines):
            return None, (), ()
        at = line - 1
        return lines[at], lines[max(0, at - CONTEXT_LINES) : at], lines[at + 1 : at + 1 + CONTEXT_LINES]

    def _source(self, event: Event, mapped: BundleFile, url: str) -> tuple[str, ...] | None:
        key = (mapped.checksum, url, event.release, event.dist)  # the release's files are the fallback
        if key not in self.sources:
            bundle = self.index.by_checksum.get(mapped.checksum)
            urls = candidate_urls(url)
            found = next((f for f in bundle.files if f.url in urls and f.type != MINIFIED), None) if bundle else None
            if found is None and event.release:
                found = self.index.release_file(event.release, event.dist, url)
            try:
                text = self.contents.get(found).decode("utf-8", "replace") if found is not None else None
            except BundleError:
                text = None
            self.sources[key] = tuple(text.splitlines()) if text is not None else None
        return self.sources[key]

    def _reference(self, minified: BundleFile) -> str | None:
        """The map ``minified`` names: its ``sourcemap`` header, else its ``sourceMappingURL``."""
        key = id(minified)
        if key not in self.references:
            self.references[key] = minified.sourcemap or _mapping_url(self.contents.get(minified))
        return self.references[key]

    def _line_lengths(self, file: BundleFile) -> list[int]:
        lengths = self.lines.get(id(file))
        if lengths is None:
            text = self.contents.get(file).decode("utf-8", "replace")
            # in UTF-16 code units, as JavaScript engines count columns
            lengths = self.lines[id(file)] = [len(line.encode("utf-16-le")) // 2 for line in text.split("\n")]
        return lengths

    def _cache(self, minified: BundleFile, mapped: BundleFile | str) -> Any:
        key = (id(minified), id(mapped) if isinstance(mapped, BundleFile) else 0)  # one inline map per file
        cache = self.caches.get(key)
        if cache is None:
            name = mapped.url if isinstance(mapped, BundleFile) else "inline data: map"
            source = self.contents.get(mapped) if isinstance(mapped, BundleFile) else _data_url(mapped)
            try:
                if source is None:
                    raise ValueError("unreadable data: URL")
                cache = self.symbolic.SourceMapCache.from_bytes(self.contents.get(minified), source)
            except Exception as error:  # symbolic raises its own SymbolicError tree
                cache = f"{name}: {str(error)[:200]}"
            self.caches[key] = cache
        return cache


def _dist(dist: str | None) -> str:
    return repr(dist) if dist is not None else "none"


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


def _line(text: str) -> str:
    """A context line as Sentry shows it: without the line break symbolic leaves on it."""
    return text.rstrip("\r\n")
