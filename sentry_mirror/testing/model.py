"""What a test reads back: :class:`Request`, :class:`Envelope`, :class:`Item`, made from
the records on disk (:func:`entry_of`), and :class:`WaitTimeout`.

Every request becomes an :class:`Envelope`. Envelope and tunnel bodies are parsed as
envelopes (leniently, as the readers do). Other endpoints get synthesised items: a store
request one item per event it carries (``event`` or ``transaction``, the payload the
event's JSON whatever the encoding sent: raw, base64, base64(zlib), the GET pixel's
``sentry_data``). A multipart upload (minidump, attachments) one item per part, as Relay
splits it: each file an ``attachment`` item (``attachment_type`` ``event.minidump`` for
the minidump) with that part's bytes, the ``sentry`` field (the event's JSON) and the
``sentry[a][b]`` fields merged into one ``event`` item, any other field a ``form_data``
item. Any other endpoint (security, nel, a minidump sent as the bare file, unreal, cron,
otlp, unknown) one item whose type and headers are the first item the record's summary
lists (the endpoint's name when it lists none) and whose payload is the whole decoded
body. The synthesised envelope's headers are empty."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from sentry_mirror.core import envelope as envelopes
from sentry_mirror.core import grouping, multipart
from sentry_mirror.core.envelope import ENVELOPE_ENDPOINTS
from sentry_mirror.core.lenient import loads_or_none
from sentry_mirror.core.record import Record
from sentry_mirror.errors import MirrorError


class WaitTimeout(AssertionError):
    """:meth:`Mirror.wait_for` gave up: its message says what was waited for and what did arrive."""


@dataclass(frozen=True)
class Request:
    """One request the mirror recorded, as on disk (``record``), with its parts typed."""

    id: str
    received_at: datetime
    method: str
    path: str
    endpoint: str
    project: str | None
    status: int  # the answer sent (0: a scripted drop)
    headers: tuple[tuple[str, str], ...]
    sdk: str | None  # "sentry.python/2.75.0"
    body: bytes  # decoded (the wire bytes when it could not be decoded)
    scripted: dict[str, Any] | None  # the scripted answer's note (docs/scripts.md), else None
    record: Mapping[str, Any] = field(repr=False)

    @property
    def title(self) -> str | None:
        """The event's title as the record's summary gives it (None for other requests)."""
        summary = self.record.get("summary")
        title = summary.get("title") if isinstance(summary, dict) else None
        return title if isinstance(title, str) else None


@dataclass(frozen=True)
class Item:
    """One item: its canonical ``type`` (core.envelope.canonical_type), headers and payload.
    Hashable (by type and payload); equal when type, headers and payload are."""

    type: str
    headers: dict[str, Any] = field(hash=False)
    payload: bytes = field(repr=False)
    request: Request = field(repr=False, compare=False)

    @property
    def json(self) -> Any:
        """The payload as JSON (NaN and Infinity read too), None when it is not JSON; decoded
        at each access, so a caller may edit what it gets without changing the item."""
        return loads_or_none(self.payload)  # NaN and Infinity read too


@dataclass(frozen=True)
class Envelope:
    """A request as an envelope (synthesised for other endpoints: see the module's docstring).
    Hashable (by its items)."""

    headers: dict[str, Any] = field(hash=False)
    items: tuple[Item, ...]
    request: Request = field(repr=False, compare=False)


def _sdk(summary: Any) -> str | None:
    sdk = summary.get("sdk") if isinstance(summary, dict) else None
    return sdk if isinstance(sdk, str) and sdk else None


def request_of(record: Record) -> Request:
    """The :class:`Request` of ``record``; KeyError, TypeError, ValueError or MirrorError
    when a field is not as the listener writes it."""
    data = record.data
    headers = tuple((str(name), str(value)) for name, value in data["headers"])
    project = data.get("project_id")
    scripted = data.get("scripted")
    return Request(
        id=record.id,
        received_at=record.received_at,
        method=str(data["method"]),
        path=str(data["path"]),
        endpoint=str(data["endpoint"]),
        project=None if project is None else str(project),
        status=record.status,
        headers=headers,
        sdk=_sdk(data.get("summary")),
        body=record.body,
        scripted=scripted if isinstance(scripted, dict) else None,
        record=data,
    )


def envelope_of(request: Request) -> Envelope:
    """``request`` as an envelope; an envelope body that does not parse gives no items (warned)."""
    data = request.record
    if request.endpoint in ENVELOPE_ENDPOINTS:
        try:
            parsed = envelopes.parse(request.body, strict=False)
        except MirrorError as exc:
            warnings.warn(f"request {request.id}: its envelope does not parse ({exc}): no items", stacklevel=2)
            return Envelope({}, (), request)
        items = tuple(Item(item.type, item.headers, bytes(item.payload), request) for item in parsed.items)
        return Envelope(parsed.headers, items, request)
    if request.endpoint == "store":
        events = grouping.events_of(data)
        return Envelope(
            {}, tuple(Item(kind, {"type": kind}, orjson.dumps(event), request) for event, kind in events), request
        )
    summary = data.get("summary")
    listed = summary.get("items") if isinstance(summary, dict) else None
    if request.endpoint in multipart.MULTIPART_ENDPOINTS:
        parts = _parts(request, listed)
        if parts is not None:
            return Envelope({}, parts, request)
    first: dict[str, Any] = listed[0] if isinstance(listed, list) and listed and isinstance(listed[0], dict) else {}
    named, given = first.get("type"), first.get("headers")
    kind = named if isinstance(named, str) else request.endpoint
    headers: dict[str, Any] = given if isinstance(given, dict) else {"type": kind}
    return Envelope({}, (Item(envelopes.canonical_type(kind), dict(headers), request.body, request),), request)


def _parts(request: Request, listed: Any) -> tuple[Item, ...] | None:
    """A multipart upload's items (see the module's docstring); None when the body is not
    multipart or the record's summary does not list its parts."""
    content_type = next((value for name, value in request.headers if name.lower() == "content-type"), "")
    try:
        parts = multipart.parse(request.body, content_type)
    except multipart.MultipartError:
        return None
    if not isinstance(listed, list) or len(listed) != len(parts):
        return None
    items: list[Item] = []
    for part, summary in zip(parts, listed, strict=True):
        headers = summary.get("headers") if isinstance(summary, dict) else None
        if multipart.is_event_field(part):
            continue
        if isinstance(headers, dict) and isinstance(headers.get("type"), str):
            items.append(Item(envelopes.canonical_type(headers["type"]), dict(headers), part.data, request))
        else:
            return None
    event = multipart.event_of(parts)
    if event is not None:
        items.insert(0, Item("event", {"type": "event"}, orjson.dumps(event), request))
    return tuple(items)
