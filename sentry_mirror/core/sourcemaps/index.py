"""The uploads, indexed as Sentry looks them up: artifact bundle files by debug id and by
release, dist and URL; debug files by debug id.

URL rule (Symbolicator's ``get_release_file_candidate_urls``, which Sentry's JavaScript
processing uses for artifact bundles and release files): a frame's ``abs_path`` is tried
as written without its fragment, then without its query, then as ``~`` followed by its path
(and query), then ``~`` and its path alone: ``https://cdn.example.com/js/app.js?v=2`` finds a
file uploaded as ``~/js/app.js``. A path with no scheme (``/srv/app/dist/app.js``, what
``@sentry/node`` sends) is read as ``file://`` URL, so ``~/srv/app/dist/app.js`` finds it.
Release and dist must both match (an event without dist only finds bundles without dist).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

from sentry_mirror.core.sourcemaps.bundle import Bundle, BundleFile

MINIFIED = "minified_source"
SOURCE_MAP = "source_map"
#: The base relative URLs are joined to (``~/`` is not a URL scheme urljoin knows).
_TILDE_BASE = "http://tilde.invalid/"
T = TypeVar("T")


def candidate_urls(abs_path: str) -> list[str]:
    """The URLs an uploaded file may carry to match ``abs_path`` (the module docstring)."""
    url = abs_path.split("#", 1)[0]
    if url.startswith("~/"):
        return [url] if "?" not in url else [url, url.split("?", 1)[0]]
    parts = urlsplit(url if "://" in url or not url.startswith("/") else "file://" + url)
    query = f"?{parts.query}" if parts.query else ""
    candidates = [url]
    if query:
        candidates.append(url.split("?", 1)[0])
    if parts.path.startswith("/"):
        candidates.append(f"~{parts.path}{query}")
        if query:
            candidates.append(f"~{parts.path}")
    return candidates


def join_url(base: str, reference: str) -> str:
    """``reference`` (a ``sourceMappingURL`` or ``sourcemap`` header) relative to ``base``,
    keeping ``~/`` URLs in their own space."""
    if base.startswith("~/"):
        joined = urljoin(_TILDE_BASE + base[2:], reference)
        return "~/" + joined[len(_TILDE_BASE) :] if joined.startswith(_TILDE_BASE) else joined
    return urljoin(base, reference)


#: The order of uploads for one URL or debug id: (the upload's ``received_at``, the bundle's
#: checksum). Sentry takes the most recent bundle (``-date_last_modified, -id``), so a later
#: upload replaces an earlier one whatever order the snapshots are read in.
Rank = tuple[str, str]


@dataclass
class Index:
    """Bundles (each held once, by checksum) and debug files, with the maps lookups use;
    each URL and debug id finds the file of its most recent upload (:data:`Rank`)."""

    bundles: dict[tuple[str, str | None, str | None], Bundle] = field(default_factory=dict)
    ranks: dict[tuple[str, str | None, str | None], Rank] = field(default_factory=dict)
    by_checksum: dict[str, Bundle] = field(default_factory=dict)  # each bundle read once
    by_debug_id: dict[str, dict[str, tuple[Rank, BundleFile]]] = field(default_factory=dict)
    by_release: dict[tuple[str, str | None], dict[str, tuple[Rank, BundleFile]]] = field(default_factory=dict)
    debug_urls: dict[str, tuple[Rank, str]] = field(default_factory=dict)  # URL -> debug id, any release
    dists: dict[str, set[str | None]] = field(default_factory=dict)  # release -> dists uploaded
    debug_files: dict[str, str] = field(default_factory=dict)  # debug id -> name

    @property
    def releases(self) -> set[str]:
        """Releases with at least one bundle."""
        return set(self.dists)

    def add_bundle(self, bundle: Bundle, release: str | None, dist: str | None, received_at: str = "") -> None:
        """Index ``bundle`` under the release and dist of its upload (else its manifest's),
        uploaded at ``received_at``: its files replace those of earlier uploads."""
        if release is None:
            release, dist = bundle.release, bundle.dist
        key = (bundle.checksum, release, dist)
        rank = (received_at, bundle.checksum)
        if key in self.ranks and self.ranks[key] >= rank:
            return
        bundle = self.by_checksum.setdefault(bundle.checksum, bundle)
        self.bundles[key], self.ranks[key] = bundle, rank
        for file in bundle.files:
            if file.debug_id:
                _newer(self.by_debug_id.setdefault(file.debug_id, {}), file.type, rank, file)
                if file.type == MINIFIED:
                    _newer(self.debug_urls, file.url, rank, file.debug_id)
            if release:
                _newer(self.by_release.setdefault((release, dist), {}), file.url, rank, file)
        if release:
            self.dists.setdefault(release, set()).add(dist)

    def add_debug_file(self, debug_id: str, name: str) -> None:
        self.debug_files.setdefault(debug_id, name)

    def merge(self, other: Index) -> None:
        """Add ``other``'s uploads (the most recent upload wins, as for one index fed both)."""
        for (_, release, dist), bundle in other.bundles.items():
            self.add_bundle(bundle, release, dist, other.ranks[(bundle.checksum, release, dist)][0])
        for debug_id, name in other.debug_files.items():
            self.add_debug_file(debug_id, name)

    def debug_file(self, debug_id: str, kind: str) -> BundleFile | None:
        """The file of type ``kind`` (:data:`MINIFIED`, :data:`SOURCE_MAP`) with ``debug_id``."""
        found = self.by_debug_id.get(debug_id, {}).get(kind)
        return found[1] if found else None

    def release_file(self, release: str, dist: str | None, abs_path: str) -> BundleFile | None:
        """The file of ``release`` and ``dist`` whose URL matches ``abs_path``."""
        files = self.by_release.get((release, dist))
        if files:
            for url in candidate_urls(abs_path):
                found = files.get(url)
                if found is not None:
                    return found[1]
        return None

    def dists_with(self, release: str, abs_path: str) -> list[str | None]:
        """The dists (None: none) under which ``release`` has a file matching ``abs_path``."""
        found = [d for d in self.dists.get(release, ()) if self.release_file(release, d, abs_path) is not None]
        return sorted(found, key=lambda d: (d is not None, d or ""))

    def release_url(self, release: str, dist: str | None, url: str) -> BundleFile | None:
        files = self.by_release.get((release, dist))
        found = files.get(url) if files else None
        return found[1] if found else None

    def debug_id_for_url(self, abs_path: str) -> str | None:
        """The debug id an uploaded minified file of any release has for ``abs_path``."""
        return next((d[1] for url in candidate_urls(abs_path) if (d := self.debug_urls.get(url))), None)


def _newer(entries: dict[str, tuple[Rank, T]], key: str, rank: Rank, value: T) -> None:
    """Put ``value`` under ``key`` unless a more recent upload's is there."""
    found = entries.get(key)
    if found is None or found[0] < rank:
        entries[key] = (rank, value)
