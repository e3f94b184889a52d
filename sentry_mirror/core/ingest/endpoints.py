"""The other endpoints: security reports, NEL, minidumps, Unreal crash reports,
attachments, cron check-ins and OTLP."""

from __future__ import annotations

import bz2
import io
import lzma
import uuid
import zlib
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson
import zstandard

from sentry_mirror.core import envelope, multipart
from sentry_mirror.core.ingest.answers import empty_response, text_response
from sentry_mirror.core.ingest.envelopes import reject_oversized
from sentry_mirror.core.ingest.model import Config, Reject, Request, Response, State, require_body
from sentry_mirror.core.limits import MAX_EVENT_SIZE
from sentry_mirror.core.summary import Facts, payload_facts

_SECURITY_TYPES = frozenset(
    {
        "application/json",
        "application/csp-report",
        "application/expect-ct-report",
        "application/expect-ct-report+json",
        "application/expect-staple-report",
        "application/reports+json",
    }
)
_NEL_TYPES = frozenset({"application/json", "application/reports+json"})
_OTLP_TYPES = frozenset({"application/json", "application/x-protobuf"})
_CRON_STATUSES = frozenset({"in_progress", "ok", "error"})


def handle_security(request: Request, config: Config, state: State, params: Mapping[str, str]) -> Response:
    if request.content_type not in _SECURITY_TYPES:
        raise Reject(415, f"unsupported Content-Type {request.content_type!r} for a security report")
    require_body(state)
    if len(state.body) > MAX_EVENT_SIZE:
        reject_oversized("raw_security")
    state.items.append({"type": "raw_security", "size": len(state.body), "headers": {"type": "raw_security"}})
    try:
        state.facts = payload_facts("event", orjson.loads(state.body))
    except orjson.JSONDecodeError:
        state.notes.append("the report is not JSON: Relay accepts it and drops it later")
    return empty_response(200)


def handle_nel(request: Request, config: Config, state: State, params: Mapping[str, str]) -> Response:
    if request.content_type not in _NEL_TYPES:
        raise Reject(415, f"unsupported Content-Type {request.content_type!r} for a NEL report")
    require_body(state)
    state.items.append({"type": "nel", "size": len(state.body), "headers": {"type": "nel"}})
    return empty_response(200)


def _head_gzip(data: bytes) -> bytes:
    return zlib.decompressobj(31).decompress(data, 4)


def _head_zstd(data: bytes) -> bytes:
    return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read(4)


def _head_xz(data: bytes) -> bytes:
    return lzma.LZMADecompressor().decompress(data, max_length=4)


def _head_bz2(data: bytes) -> bytes:
    return bz2.BZ2Decompressor().decompress(data, max_length=4)


#: Compression containers Relay unpacks a minidump from, by magic bytes. Only the dump's
#: first bytes are decoded (to check its MDMP magic): a container bomb costs nothing.
_CONTAINERS: tuple[tuple[bytes, Callable[[bytes], bytes]], ...] = (
    (b"\x1f\x8b", _head_gzip),
    (b"\x28\xb5\x2f\xfd", _head_zstd),
    (b"\xfd7zXZ\x00", _head_xz),
    (b"BZh", _head_bz2),
)


def _dump_magic(data: bytes) -> bytes:
    """The first bytes of the minidump in ``data``, unpacking a compression container."""
    for magic, head in _CONTAINERS:
        if data.startswith(magic):
            try:
                return head(data)
            except (zlib.error, zstandard.ZstdError, lzma.LZMAError, OSError, ValueError, EOFError):
                raise Reject(400, "invalid compression container") from None
    return data[:4]


def _attachment_summary(part: multipart.Part, attachment_type: str) -> dict[str, Any]:
    headers = {"type": "attachment", "attachment_type": attachment_type, "filename": part.filename or part.name}
    if part.content_type:
        headers["content_type"] = part.content_type
    return {"type": "attachment", "size": len(part.data), "headers": headers}


def _multipart(request: Request, state: State) -> list[multipart.Part]:
    try:
        return multipart.parse(state.body, request.header("content-type") or "")
    except multipart.MultipartError as exc:
        raise Reject(400, str(exc)) from None


def _crash_event_id(state: State) -> str:
    state.event_id = uuid.uuid4().hex
    return str(uuid.UUID(state.event_id))


def handle_minidump(request: Request, config: Config, state: State, params: Mapping[str, str]) -> Response:
    if request.content_type in ("application/octet-stream", "application/x-dmp"):
        dump = multipart.Part("upload_file_minidump", "minidump.dmp", request.content_type, state.body)
        parts = [dump]
    else:
        parts = _multipart(request, state)
        found = [p for p in parts if p.name == "upload_file_minidump"]
        if not found:
            raise Reject(400, "missing minidump")
        dump = found[0]
    if _dump_magic(dump.data) not in (b"MDMP", b"PMDM"):
        raise Reject(400, "invalid minidump")
    for part in parts:
        if part is dump:
            state.items.append(_attachment_summary(part, "event.minidump"))
        elif part.filename is not None:
            state.items.append(_attachment_summary(part, "event.attachment"))
        else:
            state.items.append(
                {"type": "form_data", "size": len(part.data), "headers": {"type": "form_data", "name": part.name}}
            )
    state.facts = Facts("minidump")
    return text_response(200, _crash_event_id(state))


def handle_unreal(request: Request, config: Config, state: State, params: Mapping[str, str]) -> Response:
    require_body(state)
    state.items.append({"type": "unreal_report", "size": len(state.body), "headers": {"type": "unreal_report"}})
    state.facts = Facts("unreal crash report")
    return text_response(200, _crash_event_id(state))


def handle_attachments(request: Request, config: Config, state: State, params: Mapping[str, str]) -> Response:
    event_id = envelope.normalize_uuid(params["event_id"])
    if event_id is None:
        raise Reject(400, "invalid event id")
    state.event_id = event_id
    for part in _multipart(request, state):
        state.items.append(_attachment_summary(part, "event.attachment"))
    return empty_response(201)


def handle_cron(request: Request, config: Config, state: State, params: Mapping[str, str]) -> Response:
    if request.content_type == "application/json" and request.method.upper() == "POST":
        try:
            check_in = orjson.loads(state.body)
        except orjson.JSONDecodeError as exc:
            raise Reject(400, f"invalid JSON data: {exc}") from None
        if not isinstance(check_in, dict):
            raise Reject(400, "invalid JSON data: expected an object")
    else:
        check_in = {k: v for k, v in parse_qsl(request.query) if not k.startswith("sentry_")}
    status = check_in.get("status")
    if not isinstance(status, str) or status not in _CRON_STATUSES:
        raise Reject(400, f"invalid check-in status {status!r} (expected in_progress, ok or error)")
    state.items.append({"type": "check_in", "size": len(state.body), "headers": {"type": "check_in"}})
    state.facts = payload_facts("check_in", {"monitor_slug": params["slug"], **check_in})
    return empty_response(202)


def handle_otlp(request: Request, config: Config, state: State, params: Mapping[str, str]) -> Response:
    if request.content_type not in _OTLP_TYPES:
        raise Reject(415, f"unsupported Content-Type {request.content_type!r} for OTLP")
    kind = "otlp_" + params["signal"]
    state.items.append(
        {"type": kind, "size": len(state.body), "headers": {"type": kind, "content_type": request.content_type}}
    )
    return empty_response(202)
