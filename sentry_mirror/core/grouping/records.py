"""The events a record carries: envelope and tunnel items, store bodies in every encoding,
the GET pixel's ``sentry_data``, and a multipart upload's ``sentry`` fields, as ``(event, item_type)``; and the one loop every
grouper runs over them (:func:`each_event`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson

from sentry_mirror.core import bodies, envelope, multipart
from sentry_mirror.core.ingest import store_json
from sentry_mirror.core.lenient import loads_or_none
from sentry_mirror.core.malformed import FATAL, Malformed
from sentry_mirror.core.record import Record
from sentry_mirror.errors import EnvelopeError

RecordLike = Record | Mapping[str, Any]

EVENT = "event"
TRANSACTION = "transaction"
ITEM_TYPES = frozenset({EVENT, TRANSACTION})


def record_data(record: RecordLike) -> Mapping[str, Any]:
    return record.data if isinstance(record, Record) else record


def _store_payload(body: bytes) -> Any:
    """A store body as Relay reads it (raw JSON, base64(JSON) or base64(zlib(JSON))); None if none."""
    data = store_json(body)
    return None if data is None else loads_or_none(data)


def _store_events(body: bytes, types: frozenset[str] | set[str]) -> Iterator[tuple[dict[str, Any], str]]:
    event = _store_payload(body)
    if isinstance(event, dict):
        kind = TRANSACTION if event.get("type") == TRANSACTION else EVENT
        if kind in types:
            yield event, kind


def events_of(
    record: RecordLike, types: frozenset[str] | set[str] = ITEM_TYPES
) -> Iterator[tuple[dict[str, Any], str]]:
    """The events a record carries, as ``(event, item_type)`` with ``item_type`` in ``types``
    (``"event"`` for errors and messages, ``"transaction"``).

    Envelope and tunnel items, store bodies (raw JSON, base64(JSON), base64(zlib(JSON)),
    the GET pixel's ``sentry_data``, or an envelope posted to the store endpoint), and the
    event of a minidump or attachments upload (its ``sentry`` and ``sentry[a][b]`` form
    fields: :func:`sentry_mirror.core.multipart.event_of`, as Relay reads it). Whatever
    does not parse is skipped, as are truncated and undecoded bodies. Records whose
    summary lists no item of ``types`` are skipped without parsing their body.
    """
    data = record_data(record)
    endpoint = data.get("endpoint")
    if endpoint not in ("envelope", "tunnel", "store", *multipart.MULTIPART_ENDPOINTS):
        return
    if not data.get("body_decoded", True) or data.get("body_truncated"):
        return
    summary = data.get("summary")
    listed = summary.get("items") if isinstance(summary, dict) else None
    if endpoint in multipart.MULTIPART_ENDPOINTS:
        if EVENT in types:
            yield from _upload_event(data, listed)
        return
    if endpoint != "store" and isinstance(listed, list) and listed:
        for item in listed:
            if isinstance(item, dict) and item.get("type") in types:
                break
        else:
            return
    if endpoint == "store" and str(data.get("method") or "POST").upper() == "GET":
        text = dict(parse_qsl(data.get("query") or "")).get("sentry_data")
        if text:
            yield from _store_events(text.encode(), types)
        return
    body = bodies.readable(data)  # a body kept encoded: without its big items
    if endpoint == "store" and not (body.startswith(b"{") and b"\n{" in body[:65536]):
        yield from _store_events(body, types)
        return
    try:
        items = envelope.items_of(body)
    except EnvelopeError:
        if endpoint == "store":
            yield from _store_events(body, types)
        return
    for item in items:
        kind = item.type
        if kind in types:
            try:
                payload = orjson.loads(item.payload)
            except orjson.JSONDecodeError:
                payload = loads_or_none(item.payload)  # NaN, Infinity: the fallback parser reads them
            if isinstance(payload, dict):
                yield payload, kind


def _upload_event(data: Mapping[str, Any], listed: Any) -> Iterator[tuple[dict[str, Any], str]]:
    """The event a multipart upload's form fields carry (none when its summary lists no
    ``sentry`` field: the body is not parsed)."""
    if isinstance(listed, list) and not any(_is_event_field(item) for item in listed):
        return
    content_type = next(
        (str(value) for name, value in data.get("headers") or () if str(name).lower() == "content-type"), ""
    )
    try:
        parts = multipart.parse(bodies.readable(data), content_type)
    except multipart.MultipartError:
        return
    event = multipart.event_of(parts)
    if event is not None:
        yield event, EVENT


def _is_event_field(item: Any) -> bool:
    """Whether a summary's item is a form field that carries the event."""
    headers = item.get("headers") if isinstance(item, dict) else None
    name = headers.get("name") if isinstance(headers, dict) else None
    return isinstance(name, str) and multipart.is_event_name(name)


def each_event(
    records: Iterable[RecordLike],
    types: frozenset[str],
    add: Callable[[dict[str, Any], Mapping[str, Any]], Any],
    malformed: Malformed | None,
) -> None:
    """``add(event, record data)`` for the events of ``types`` in ``records``. A record whose
    events cannot be read or added is counted in ``malformed`` and the rest go on: the last
    resort (every record's shape was checked where it was read, and the walkers take any
    payload)."""
    for record in records:
        data = record_data(record)
        try:
            for event, _ in events_of(data, types):
                add(event, data)
        except FATAL:
            raise
        except Exception as exc:
            (malformed or Malformed(where="group")).failed(data, exc)
