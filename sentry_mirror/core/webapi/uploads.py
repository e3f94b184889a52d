"""The upload record: the file an assemble call put together, stored like any request
(design of issue 15, section 1) so that ``inspect``, ``report``, ``diff`` and ``replay`` read it.

An artifact bundle is a zip with ``manifest.json``: ``{"files": {<path in zip>: {"url",
"type", "headers": {"debug-id", "sourcemap"}}}, "org", "release", "dist", "debug_id"}``
(sentry-cli's ``src/utils/source_bundle.rs`` writes it); its summary lists one item per
manifest file."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sentry_mirror.core import record
from sentry_mirror.core.bounds import MAX_HEADER_STRING, MAX_SUMMARY_ITEMS
from sentry_mirror.core.ingest import Outcome, Request, Response
from sentry_mirror.core.sourcemaps.bundle import BundleError, normalize_debug_id, read_manifest
from sentry_mirror.core.summary import Facts, clip
from sentry_mirror.core.webapi.assemble import Assembly

ZIP = "application/zip"
OCTETS = "application/octet-stream"


def _debug_id(headers: Any) -> str | None:
    if not isinstance(headers, dict):
        return None
    for name, value in headers.items():
        if isinstance(name, str) and name.lower() == "debug-id":
            return normalize_debug_id(value)
    return None


def _cut(text: str | None) -> str | None:
    """A string kept in a summary item: at most :data:`MAX_HEADER_STRING` characters."""
    return text if text is None or len(text) <= MAX_HEADER_STRING else text[:MAX_HEADER_STRING] + "…"


def bundle_items(data: bytes) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(one summary item per manifest file, the manifest) of an artifact bundle."""
    try:
        manifest, sizes = read_manifest(data)
    except BundleError:  # not a readable bundle: stored all the same, its files not listed
        manifest, sizes = {}, {}
    files = manifest.get("files")
    items = []
    for path, entry in (files or {}).items() if isinstance(files, dict) else ():
        entry = entry if isinstance(entry, dict) else {}
        kind = entry.get("type") if isinstance(entry.get("type"), str) else "unknown"
        url = entry.get("url") if isinstance(entry.get("url"), str) else None
        headers = {"type": _cut(kind), "url": _cut(url), "debug_id": _debug_id(entry.get("headers"))}
        items.append({"type": _cut(kind), "size": sizes.get(path, 0), "headers": headers})
    return items, manifest


def debug_file_item(assembly: Assembly, size: int) -> dict[str, Any]:
    headers = {"type": "debug_file", "name": _cut(assembly.name), "debug_id": _cut(assembly.debug_id)}
    return {"type": "debug_file", "size": size, "headers": headers}


def build(
    data: bytes,
    assembly: Assembly,
    *,
    request: dict[str, Any],
    org: str | None,
    project: str | None,
    answer: bytes,
    received_at: datetime,
) -> dict[str, Any]:
    """The upload record of ``data`` (the assembled file) for the assemble ``request`` record
    (its id, path, remote address); ``answer`` is the assemble answer's body as sent."""
    bundle = assembly.kind == "artifact_bundle"
    if bundle:
        items, manifest = bundle_items(data)
        release = assembly.version or (manifest.get("release") if isinstance(manifest.get("release"), str) else None)
    else:
        items, release = [debug_file_item(assembly, len(data))], None
    if bundle:
        title = f"artifact bundle {release or '(no release)'}: {len(items)} file{'s' if len(items) != 1 else ''}"
    else:
        title = f"debug file {assembly.name}" + (f" ({assembly.debug_id})" if assembly.debug_id else "")
    headers = (("content-type", ZIP if bundle else OCTETS),)
    incoming = Request("POST", request["path"], "", headers, data)
    response = Response(200, (("Content-Type", "application/json"),), answer)
    total = len(items) if len(items) > MAX_SUMMARY_ITEMS else None
    outcome = Outcome(
        response,
        "upload",
        data,
        True,
        items=tuple(items[:MAX_SUMMARY_ITEMS]),
        facts=Facts(title=clip(title), release=release),
        items_total=total,
    )
    entry = record.build(incoming, outcome, received_at=received_at, remote_addr=request.get("remote_addr"))
    entry["upload"] = {
        "kind": assembly.kind,
        "request_id": request["id"],
        "org": org,
        "project": project,
        "projects": list(assembly.projects) if bundle else [project] if project else [],
        "release": release,
        "dist": assembly.dist,
        "checksum": assembly.checksum,
        "chunks": list(assembly.chunks),
        "name": assembly.name,
        "debug_id": assembly.debug_id,
    }
    return entry
