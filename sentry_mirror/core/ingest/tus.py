"""The TUS upload endpoint (``/api/{project}/upload/``), for attachments too large for an envelope.

As Relay serves it (relay-server ``endpoints/upload/``, tests/integration/test_upload.py): a
``POST`` creates an upload (``Tus-Resumable: 1.0.0``, ``Upload-Length`` or
``Upload-Defer-Length: 1``) and is answered ``201`` with a ``Location``; each ``PATCH`` to the
location it was last given (``Upload-Offset``, ``Content-Type: application/offset+octet-stream``)
carries the next chunk and is answered ``204`` with the new ``Upload-Offset`` and the next
``Location`` (one ``PATCH`` from offset 0 may carry the whole file). The SDK then sends its
envelope with an attachment placeholder item (``application/vnd.sentry.attachment-ref+json``)
naming the final location. Offsets, lengths and their sums are unsigned 64-bit numbers, as
Relay reads them: anything else is a 400. A ``POST`` with the data in it ("creation with
upload", Relay's first version) is answered ``201`` with ``Upload-Offset`` too.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote

from sentry_mirror.core.ingest.answers import CORS_HEADERS
from sentry_mirror.core.ingest.model import Config, Reject, Request, Response, State
from sentry_mirror.core.summary import Facts

TUS_VERSION = "1.0.0"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
_NUMBER = re.compile(r"\+?[0-9]{1,20}")
_U64 = 1 << 64


def _u64(value: str | None) -> int | None:
    """A header's unsigned 64-bit integer, as Rust parses one; None when it is not one."""
    if value is None or not _NUMBER.fullmatch(value):
        return None
    number = int(value)
    return number if number < _U64 else None


_TUS_RESUMABLE = (("Tus-Resumable", TUS_VERSION),)


def _shown(value: str | None) -> str:
    """A header value as an error names it: ``(missing)``, or its first 100 characters."""
    if value is None:
        return "(missing)"
    return value if len(value) <= 100 else value[:100] + "…"


def _tus_error(status: int, cause: str) -> Reject:
    return Reject(status, f"TUS protocol error: {cause}", (cause,), headers=_TUS_RESUMABLE)


def _check_version(request: Request) -> None:
    version = request.header("tus-resumable")
    if version != TUS_VERSION:
        raise _tus_error(400, f"expected Tus-Resumable: {TUS_VERSION}, got: {_shown(version)}")


def _upload_length(request: Request) -> int | None:
    """The announced length, None when deferred (``Upload-Defer-Length: 1``); Reject when neither."""
    length_header, defer_header = request.header("upload-length"), request.header("upload-defer-length")
    length, defer = _u64(length_header), _u64(defer_header)
    if length is not None:
        return length
    if defer == 1:
        return None
    shown_length = "None" if length_header is None else f"Some({_shown(length_header)})"
    shown_defer = "None" if defer_header is None else f"Some({_shown(defer_header)})"
    raise _tus_error(
        400,
        f"expected Upload-Length or Upload-Defer-Length=1, got Upload-Length={shown_length}, Upload-Defer-Length={shown_defer}",
    )


def _check_chunk(offset: int, received: int, length: int | None, *, whole: bool) -> None:
    """Relay reads no more than the announced length (a 400 past it); a creation with its
    data (``whole``) must carry all of it."""
    end = offset + received
    if length is None:
        return
    if end > length:
        cause = f"stream exceeded upper bound: received {end} > {length}"
    elif whole and end < length:
        cause = f"stream shorter than lower bound: received {end} < {length}"
    else:
        return
    raise Reject(400, f"upload error: {cause}", (cause,), headers=_TUS_RESUMABLE)


def _tus_headers(*extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return (("Tus-Resumable", TUS_VERSION), *extra, *CORS_HEADERS)


def _location(project_id: str, key: str, length: int | None, *, complete: bool) -> str:
    """Where the next ``PATCH`` goes (Relay's shape): ``upload_id`` while the upload is not
    complete, and an opaque ``upload_signature`` (Relay signs the location with its own key;
    the mirror's only names the upload and cannot be checked by Relay)."""
    signature = hashlib.sha256(f"{project_id}/{key}/{length}/{complete}".encode()).hexdigest()
    query = [f"upload_length={length}"] if length is not None else []
    if not complete:
        query.append(f"upload_id={quote(key, safe='')}")
    query.append(f"upload_signature={signature}")
    return f"/api/{project_id}/upload/{quote(key, safe='')}/?{'&'.join(query)}"


def _record_data(state: State, length: int | None, offset: int) -> None:
    headers: dict[str, object] = {"type": "attachment", "content_type": OFFSET_CONTENT_TYPE, "upload_offset": offset}
    if length is not None:
        headers["upload_length"] = length
    state.items.append({"type": "attachment", "size": len(state.body), "headers": headers})


def handle_tus(request: Request, config: Config, state: State, params: Mapping[str, str]) -> Response:
    """``POST`` (create) or ``PATCH`` (the data) on the TUS upload endpoint."""
    _check_version(request)
    if request.method.upper() == "PATCH":
        return _patch(request, state, params)
    return _create(request, state)


def _create(request: Request, state: State) -> Response:
    length = _upload_length(request)
    key = uuid.uuid4().hex
    size = "deferred length" if length is None else f"{length:,} bytes"
    if not state.body:
        state.facts = Facts(f"upload created ({size})")
        return Response(201, _tus_headers(("Location", _location(state.project_id or "", key, length, complete=False))))
    _check_chunk(0, len(state.body), length, whole=True)
    _record_data(state, length, 0)
    state.facts = Facts(f"upload created with its data ({len(state.body):,} bytes)")
    location = _location(state.project_id or "", key, length, complete=True)
    return Response(201, _tus_headers(("Location", location), ("Upload-Offset", str(len(state.body)))))


def _patch_length(request: Request) -> int | None:
    """The upload's length, from the location's ``upload_length`` (or ``Upload-Length``);
    None when neither is given; a 400 when one is given and is not an unsigned 64-bit number."""
    value = dict(parse_qsl(request.query)).get("upload_length") or request.header("upload-length")
    length = _u64(value)
    if value is not None and length is None:
        raise _tus_error(400, f"expected upload_length, got: {_shown(value)}")
    return length


def _patch(request: Request, state: State, params: Mapping[str, str]) -> Response:
    """One chunk at ``Upload-Offset`` (Relay's resumable uploads; one ``PATCH`` from offset 0
    carries a whole file): answered with the new offset and the next location."""
    if request.content_type != OFFSET_CONTENT_TYPE:
        shown = _shown(request.header("content-type"))
        raise _tus_error(400, f"expected Content-Type: {OFFSET_CONTENT_TYPE}, got: {shown}")
    offset_header = request.header("upload-offset")
    offset = _u64(offset_header)
    if offset is None:
        raise _tus_error(400, f"expected Upload-Offset, got: {_shown(offset_header)}")
    length = _patch_length(request)
    if offset + len(state.body) >= _U64:
        cause = f"stream exceeded upper bound: received {offset + len(state.body)} > {_U64 - 1}"
        raise Reject(400, f"upload error: {cause}", (cause,), headers=_TUS_RESUMABLE)
    _check_chunk(offset, len(state.body), length, whole=False)
    _record_data(state, length, offset)
    end = offset + len(state.body)
    key = params.get("upload", "")
    complete = length is None or end == length
    of = f" of {length:,}" if length is not None else ""
    state.facts = Facts(f"upload {len(state.body):,} bytes at {offset:,}{of}" + (" (complete)" if complete else ""))
    location = _location(state.project_id or "", key, length, complete=complete)
    return Response(204, _tus_headers(("Upload-Offset", str(end)), ("Location", location)))
