"""The TUS upload endpoint (``/api/{project}/upload/``), for attachments too large for an envelope.

As Relay serves it (relay-server ``endpoints/upload/``, tests/integration/test_upload.py): a
``POST`` creates an upload (``Tus-Resumable: 1.0.0``, ``Upload-Length`` or
``Upload-Defer-Length: 1``) and is answered ``201`` with a ``Location``; a ``PATCH`` to that
location (``Upload-Offset: 0``, ``Content-Type: application/offset+octet-stream``) carries the
whole file and is answered ``204`` with ``Upload-Offset``. The SDK then sends its envelope with
an attachment placeholder item (``application/vnd.sentry.attachment-ref+json``) naming the
location. Relay takes one ``PATCH`` per upload (no resumption), and so does the mirror.
A ``POST`` with the data in it ("creation with upload", Relay's first version) is answered
``201`` with ``Upload-Offset`` too.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from urllib.parse import parse_qsl

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


def _tus_error(status: int, cause: str) -> Reject:
    return Reject(status, f"TUS protocol error: {cause}", (cause,), headers=_TUS_RESUMABLE)


def _check_version(request: Request) -> None:
    version = request.header("tus-resumable")
    if version != TUS_VERSION:
        raise _tus_error(
            400, f"expected Tus-Resumable: {TUS_VERSION}, got: {version if version is not None else '(missing)'}"
        )


def _upload_length(request: Request) -> int | None:
    """The announced length, None when deferred (``Upload-Defer-Length: 1``); Reject when neither."""
    length_header, defer_header = request.header("upload-length"), request.header("upload-defer-length")
    length, defer = _u64(length_header), _u64(defer_header)
    if length is not None:
        return length
    if defer == 1:
        return None
    shown_length = "None" if length_header is None else f"Some({length_header})"
    shown_defer = "None" if defer_header is None else f"Some({defer_header})"
    raise _tus_error(
        400,
        f"expected Upload-Length or Upload-Defer-Length=1, got Upload-Length={shown_length}, Upload-Defer-Length={shown_defer}",
    )


def _check_body(received: int, expected: int | None) -> None:
    """Relay reads exactly the announced length: fewer or more bytes is a 400."""
    if expected is None:
        return
    if received < expected:
        cause = f"stream shorter than lower bound: received {received} < {expected}"
    elif received > expected:
        cause = f"stream exceeded upper bound: received {received} > {expected}"
    else:
        return
    raise Reject(400, f"upload error: {cause}", (cause,), headers=_TUS_RESUMABLE)


def _tus_headers(*extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return (("Tus-Resumable", TUS_VERSION), *extra, *CORS_HEADERS)


def _location(project_id: str, key: str, length: int | None) -> str:
    """Where the ``PATCH`` goes: Relay's shape, with an opaque signature (Relay signs it with its
    own key; the mirror's only names the upload)."""
    signature = hashlib.sha256(f"{project_id}/{key}/{length}".encode()).hexdigest()
    query = (f"upload_length={length}&" if length is not None else "") + f"upload_signature={signature}"
    return f"/api/{project_id}/upload/{key}/?{query}"


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
    location = _location(state.project_id or "", key, length)
    size = "deferred length" if length is None else f"{length:,} bytes"
    if not state.body:
        state.facts = Facts(f"upload created ({size})")
        return Response(201, _tus_headers(("Location", location)))
    _check_body(len(state.body), length)
    _record_data(state, length, 0)
    state.facts = Facts(f"upload created with its data ({len(state.body):,} bytes)")
    return Response(201, _tus_headers(("Location", location), ("Upload-Offset", str(len(state.body)))))


def _patch(request: Request, state: State, params: Mapping[str, str]) -> Response:
    if request.content_type != OFFSET_CONTENT_TYPE:
        raise _tus_error(
            400, f"expected Content-Type: {OFFSET_CONTENT_TYPE}, got: {request.content_type or '(missing)'}"
        )
    offset_header = request.header("upload-offset")
    if _u64(offset_header) != 0:
        raise _tus_error(
            400, f"expected Upload-Offset: 0, got: {offset_header if offset_header is not None else '(missing)'}"
        )
    length = _u64(dict(parse_qsl(request.query)).get("upload_length"))
    _check_body(len(state.body), length)
    _record_data(state, length, 0)
    state.facts = Facts(f"upload {params.get('upload', '')[:64]}: {len(state.body):,} bytes")
    return Response(204, _tus_headers(("Upload-Offset", str(len(state.body)))))
