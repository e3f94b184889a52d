"""What a test reads back: :class:`Request`, :class:`Envelope`, :class:`Item`, made from
the records on disk (:func:`entry_of`), and :class:`WaitTimeout`.

Every request becomes an :class:`Envelope`. Envelope and tunnel bodies are parsed as
envelopes (leniently, as the readers do). Other endpoints get synthesised items: a store
request one item per event it carries (``event`` or ``transaction``, the payload the
event's JSON whatever the encoding sent: raw, base64, base64(zlib), the GET pixel's
``sentry_data``); any other endpoint (security, nel, minidump, unreal, attachments,
cron, otlp, unknown) one item whose type and headers are the first item the record's
summary lists (the endpoint's name when it lists none) and whose payload is the whole
decoded body. The synthesised envelope's headers are empty."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from sentry_mirror.core import envelope as envelopes
from sentry_mirror.core import grouping
from sentry_mirror.core.lenient import loads_or_none
from sentry_mirror.core.record import Record
from sentry_mirror.errors import MirrorError

#: The endpoints whose bodies are envelopes.
ENVELOPE_ENDPOINTS = frozenset({"envelope", "tunnel"})


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
    """One item: its canonical ``type`` (core.envelope.canonical_type), headers and payload."""

    type: str
    headers: dict[str, Any]
    payload: bytes = field(repr=False)
    request: Request = field(repr=False, compare=False)

    @functools.cached_property
    def json(self) -> Any:
        """The payload as JSON (NaN and Infinity read too), None when it is not JSON; decoded once."""
        try:
            return orjson.loads(self.payload)
        except orjson.JSONDecodeError:
            return loads_or_none(self.payload)


@dataclass(frozen=True)
class Envelope:
    """A request as an envelope (synthesised for other endpoints: see the module's docstring)."""

    headers: dict[str, Any]
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
    first: dict[str, Any] = listed[0] if isinstance(listed, list) and listed and isinstance(listed[0], dict) else {}
    named, given = first.get("type"), first.get("headers")
    kind = named if isinstance(named, str) else request.endpoint
    headers: dict[str, Any] = given if isinstance(given, dict) else {"type": kind}
    return Envelope({}, (Item(envelopes.canonical_type(kind), dict(headers), request.body, request),), request)
