"""Small builders for test inputs: events, envelope bytes and ingest requests.

Each takes keyword overrides, so a test spells out only what it is about.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from sentry_mirror.core.ingest import Request

#: A 32-character public key, as a real DSN carries.
KEY = "e12d836b15bb49d7bbf99e64295d995b"
OTHER_KEY = "0123456789abcdef0123456789abcdef"
PROJECT = "42"
EVENT_ID = "9ec79c33ec9942ab8353589fcb2e04dc"
DSN = f"https://{KEY}@o1.ingest.sentry.io/{PROJECT}"
QUERY_AUTH = f"sentry_key={KEY}&sentry_version=7"
ENVELOPE_PATH = f"/api/{PROJECT}/envelope/"

Items = Sequence[tuple[dict[str, Any], bytes]]


def make_event(**overrides: Any) -> dict[str, Any]:
    """An error event as sentry-python sends it; ``overrides`` replace top-level keys."""
    event: dict[str, Any] = {
        "event_id": EVENT_ID,
        "timestamp": 1777629600.0,
        "platform": "python",
        "level": "error",
        "exception": {
            "values": [
                {
                    "type": "ZeroDivisionError",
                    "value": "division by zero",
                    "stacktrace": {"frames": [{"module": "app", "function": "run", "lineno": 3, "in_app": True}]},
                }
            ]
        },
    }
    event.update(overrides)
    return event


def make_envelope(
    headers: dict[str, Any] | None = None,
    items: Items | None = None,
    *,
    trailing_newline: bool = True,
    explicit_length: bool = True,
) -> bytes:
    """Envelope bytes: ``headers`` (default: the event id) then each ``(item_headers, payload)``.

    With ``explicit_length`` every item header gets ``length`` unless it already has one;
    without it, item headers are written as given (implicit length).
    """
    if headers is None:
        headers = {"event_id": EVENT_ID}
    if items is None:
        items = [({"type": "event"}, orjson.dumps(make_event()))]
    parts = [orjson.dumps(headers)]
    for item_headers, payload in items:
        if explicit_length and "length" not in item_headers:
            item_headers = {**item_headers, "length": len(payload)}
        parts += [b"\n", orjson.dumps(item_headers), b"\n", payload]
    if trailing_newline:
        parts.append(b"\n")
    return b"".join(parts)


def make_request(
    path: str = ENVELOPE_PATH,
    body: bytes | None = None,
    headers: Sequence[tuple[str, str]] = (),
    query: str = QUERY_AUTH,
    method: str = "POST",
) -> Request:
    """A request to the ingest core; the body defaults to :func:`make_envelope`'s."""
    return Request(
        method=method,
        path=path,
        query=query,
        headers=tuple(headers),
        body=make_envelope() if body is None else body,
    )


def make_multipart(
    *parts: tuple[str, str | None, bytes], boundary: str = "sentry-mirror-boundary"
) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body from ``(name, filename, data)`` parts, and its Content-Type."""
    chunks = []
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if filename:
            head += "Content-Type: application/octet-stream\r\n"
        chunks.append(head.encode() + b"\r\n" + data + b"\r\n")
    body = b"".join(chunks) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def make_record(**overrides: Any) -> dict[str, Any]:
    """A whole snapshot record, as the listener writes one for a request it refused with 404
    (readers skip a record that lacks a field the listener writes); ``overrides`` replace
    top-level fields."""
    record: dict[str, Any] = {
        "v": 1,
        "id": "0" * 32,
        "received_at": "2026-11-23T10:00:00.000000Z",
        "remote_addr": None,
        "method": "POST",
        "path": "/",
        "query": "",
        "headers": [],
        "endpoint": "unknown",
        "project_id": None,
        "auth": None,
        "content_encoding": None,
        "wire_size": 0,
        "body_size": 0,
        "body": "",
        "body_base64": False,
        "summary": {"event_id": None, "items": []},
        "error": None,
        "response": {"status": 404, "headers": [], "body": "", "body_base64": False},
    }
    record.update(overrides)
    return record
