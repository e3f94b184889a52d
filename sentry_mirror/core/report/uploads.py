"""What an upload record holds (design of issue 15: the file an assemble call put together),
for the ``releases`` section: an artifact bundle's files by type with their debug ids, or a
debug file's name and debug id.

The listener lists a bundle's files in the record's ``summary.items``; a record that lists
none (written by hand, or by another writer) is read from its body with the ``sourcemaps
check`` reader (:func:`~sentry_mirror.core.sourcemaps.bundle.read_bundle`: the files its
``manifest.json`` lists that the zip holds). Debug ids are compared as Sentry compares them
(:func:`~sentry_mirror.core.sourcemaps.bundle.normalize_debug_id`). Nothing here raises on a
hostile record: a body that is not a bundle, or one the reader finds no file in, is
``readable`` false.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sentry_mirror.core import bodies
from sentry_mirror.core.sourcemaps.bundle import BundleError, normalize_debug_id, read_bundle
from sentry_mirror.core.text import nonempty
from sentry_mirror.errors import MirrorError

#: Characters of a name, URL, release or dist kept.
MAX_TEXT = 200


@dataclass(frozen=True)
class UploadFile:
    """One file of an uploaded artifact bundle: its manifest type (``minified_source``,
    ``source_map``, ``source`` …), URL (``~/app.min.js``) and debug id (normalized)."""

    type: str
    url: str | None = None
    debug_id: str | None = None


@dataclass(frozen=True)
class Upload:
    """One upload record: ``kind`` is ``artifact_bundle`` or ``debug_file`` (or what the
    record says), ``size`` the file's bytes; a bundle's ``files`` (``readable`` false when
    neither the summary nor the body gives one), a debug file's ``name`` and ``debug_id``."""

    kind: str
    release: str | None
    dist: str | None
    size: int
    files: tuple[UploadFile, ...] = ()
    readable: bool = True
    name: str | None = None
    debug_id: str | None = None


def text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """A non-empty string, cut to ``limit`` characters (:data:`MAX_TEXT`); None for anything else."""
    return nonempty(value, limit)


def read_upload(data: Mapping[str, Any]) -> Upload:
    """The upload an ``upload`` record holds (its ``upload`` object, summary and body)."""
    details = data.get("upload")
    details = details if isinstance(details, dict) else {}
    summary = data.get("summary")
    summary = summary if isinstance(summary, dict) else {}
    kind = text(details.get("kind"), 40) or "artifact_bundle"
    size = data.get("body_size")
    size = size if type(size) is int and size >= 0 else 0
    release = text(details.get("release")) or text(summary.get("release"))
    dist = text(details.get("dist"))
    if kind != "artifact_bundle":
        item = next((i for i in _items(summary) if i[0] == "debug_file"), None)
        headers = item[1] if item else {}
        name = text(details.get("name")) or text(headers.get("name"))
        ident = normalize_debug_id(details.get("debug_id") or headers.get("debug_id"))
        return Upload(kind, release, dist, size, name=name, debug_id=ident)
    listed = tuple(
        UploadFile(kind_, text(headers.get("url"), 1000), normalize_debug_id(headers.get("debug_id")))
        for kind_, headers in _items(summary)
        if kind_ != "chunk"
    )
    if listed:
        return Upload(kind, release, dist, size, listed)
    try:
        bundle = read_bundle(bodies.whole(data))
    except (BundleError, MirrorError):  # not a bundle, or a body that does not decode
        return Upload(kind, release, dist, size, readable=False)
    files = tuple(UploadFile(file.type[:40] or "-", file.url[:1000], file.debug_id) for file in bundle.files)
    return Upload(kind, release or text(bundle.release), dist or text(bundle.dist), size, files, readable=bool(files))


def _items(summary: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """The summary's items as (type, headers)."""
    items = summary.get("items")
    found: list[tuple[str, Mapping[str, Any]]] = []
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict):
            headers = item.get("headers")
            headers = headers if isinstance(headers, dict) else {}
            found.append((text(item.get("type") or headers.get("type"), 40) or "-", headers))
    return found
