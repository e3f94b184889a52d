"""The legacy store endpoint: one event, raw JSON, base64(JSON) or base64(zlib(JSON)),
posted or sent as ``GET ?sentry_data=`` (answered with a pixel)."""

from __future__ import annotations

import base64
import binascii
import uuid
import zlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from sentry_mirror.core import envelope, lenient
from sentry_mirror.core.ingest.answers import CORS_HEADERS, PIXEL_GIF, json_response
from sentry_mirror.core.ingest.envelopes import handle_envelope, reject_oversized
from sentry_mirror.core.ingest.model import Config, Reject, Request, Response, State, require_body
from sentry_mirror.core.limits import MAX_EVENT_SIZE
from sentry_mirror.core.summary import payload_facts


def store_json(body: bytes) -> bytes | None:
    """The JSON text of a store body, which Relay takes raw, as base64(JSON) or as
    base64(zlib(JSON)); None when it is none of these."""
    data = body.strip()
    if not data.startswith(b"{"):
        try:
            data = base64.b64decode(data, validate=False)
        except (binascii.Error, ValueError):
            return None
        if not data.startswith(b"{"):
            try:
                data = zlib.decompressobj().decompress(data, MAX_EVENT_SIZE + 1)
            except zlib.error:
                return None
    return data


def _store_payload(body: bytes) -> Any:
    """Relay's store body as JSON, or its 400."""
    data = store_json(body)
    if data is None:
        raise Reject(400, "invalid request body")
    try:
        return lenient.loads(data)
    except ValueError as exc:
        raise Reject(400, f"invalid JSON data: {exc}") from None


def handle_store(request: Request, config: Config, state: State, params: Mapping[str, str]) -> Response:
    if request.method.upper() == "GET":
        data = dict(parse_qsl(request.query)).get("sentry_data")
        if not data:
            raise Reject(400, "empty request body")
        event = _store_payload(data.encode())
        size = len(data)
    else:
        if request.content_type == "application/x-sentry-envelope":
            return handle_envelope(request, config, state, params)
        require_body(state)
        if len(state.body) > MAX_EVENT_SIZE:
            reject_oversized("event")
        event = _store_payload(state.body)
        size = len(state.body)
    state.items.append({"type": "event", "size": size, "headers": {"type": "event"}})
    state.facts = payload_facts("event", event)
    state.event_id = envelope.normalize_uuid(event.get("event_id") if isinstance(event, dict) else None)
    if state.event_id is None:
        state.event_id = uuid.uuid4().hex
    if request.method.upper() == "GET":
        return Response(200, (("Content-Type", "image/gif"), *CORS_HEADERS), PIXEL_GIF)
    return json_response(200, {"id": state.event_id})
