"""What an upload record holds (design of issue 15: the file an assemble call put together),
for the ``releases`` section: an artifact bundle's files by type with their debug ids, or a
debug file's name and debug id.

The listener lists a bundle's files in the record's ``summary.items``; a record that lists
none (written by hand, or by another writer) is read from its body: the zip's
``manifest.json`` (``{"files": {path: {"url", "type", "headers": {"debug-id"}}}, "debug_id",
"release", "dist"}``, as sentry-cli writes it). Nothing here raises on a hostile record: a
body that is not a zip, a manifest that is not JSON or not of these types, gives a bundle
whose files are unknown (``readable`` false).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sentry_mirror.core import bodies
from sentry_mirror.core.sourcemaps.bundle import BundleError, read_manifest
from sentry_mirror.errors import MirrorError

#: Characters of a name, URL, release or dist kept.
MAX_TEXT = 200


@dataclass(frozen=True)
class BundleFile:
    """One file of an artifact bundle: its manifest type (``minified_source``,
    ``source_map``, ``source`` …), URL (``~/app.min.js``) and debug id (lower case)."""

    type: str
    url: str | None = None
    debug_id: str | None = None


@dataclass(frozen=True)
class Upload:
    """One upload record: ``kind`` is ``artifact_bundle`` or ``debug_file`` (or what the
    record says), ``size`` the file's bytes; a bundle's ``files`` (``readable`` false when
    neither the summary nor the body lists them), a debug file's ``name`` and ``debug_id``."""

    kind: str
    release: str | None
    dist: str | None
    size: int
    files: tuple[BundleFile, ...] = ()
    readable: bool = True
    name: str | None = None
    debug_id: str | None = None


def text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """A non-empty string, cut to ``limit`` characters; None for anything else."""
    return value[:limit] if isinstance(value, str) and value else None


def debug_id(value: Any) -> str | None:
    """A debug id as compared: lower case, None unless a non-empty string."""
    found = text(value, 100)
    return found.lower() if found else None


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
        return Upload(
            kind, release, dist, size, name=name, debug_id=debug_id(details.get("debug_id") or headers.get("debug_id"))
        )
    listed = tuple(
        BundleFile(kind_, text(headers.get("url"), 1000), debug_id(headers.get("debug_id")))
        for kind_, headers in _items(summary)
        if kind_ != "chunk"
    )
    if listed:
        return Upload(kind, release, dist, size, listed)
    manifest = _manifest(data)
    if manifest is None:
        return Upload(kind, release, dist, size, readable=False)
    files = manifest_files(manifest)
    release = release or text(manifest.get("release"))
    dist = dist or text(manifest.get("dist"))
    return Upload(kind, release, dist, size, files or (), readable=files is not None)


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


def _manifest(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """The bundle's ``manifest.json``, or None when the body is no bundle holding one as a JSON object."""
    try:
        return read_manifest(bodies.whole(data))[0]
    except (BundleError, MirrorError):  # not a bundle, or a body that does not decode
        return None


def manifest_files(manifest: Mapping[str, Any]) -> tuple[BundleFile, ...] | None:
    """The files a bundle's manifest lists (None when its ``files`` is not an object). A
    file's debug id is its ``debug-id`` header (``debug_id`` also read)."""
    files = manifest.get("files")
    if not isinstance(files, dict):
        return None
    found = []
    for entry in files.values():
        entry = entry if isinstance(entry, dict) else {}
        headers = entry.get("headers")
        headers = {str(k).lower(): v for k, v in headers.items()} if isinstance(headers, dict) else {}
        ident = debug_id(headers.get("debug-id") or headers.get("debug_id"))
        found.append(BundleFile(text(entry.get("type"), 40) or "-", text(entry.get("url"), 1000), ident))
    return tuple(found)
