"""Rewriting a request body for a replay target, keeping the bytes of what needs no change.

:func:`rewrite_envelope` names the target in an envelope's header (``dsn``,
``trace.public_key``), gives fresh ids and moves timestamps; a changed JSON payload is
written back compactly with its ``length`` updated, everything else (item headers too)
keeps its bytes. :func:`drop_items` leaves out rate-limited items, as an SDK does;
:func:`rewrite_event_json` does for a store-endpoint body what the envelope rewrite does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import orjson

from sentry_mirror.core import envelope as envelope_mod
from sentry_mirror.core.ratelimits import category_of
from sentry_mirror.core.replay.fresh_ids import IdMap, fresh_payload_ids
from sentry_mirror.core.replay.timeshift import TIMESTAMP_FIELDS, format_like, shift_payload, shift_value

#: Item types whose payload is JSON with ids or timestamps to rewrite.
_JSON_ITEM_TYPES = frozenset(TIMESTAMP_FIELDS) | {"user_report"}


class _Span(NamedTuple):
    start: int
    end: int


def _spans(data: bytes, parsed: envelope_mod.Envelope) -> tuple[_Span, list[tuple[int, _Span, dict[str, Any], _Span]]]:
    """Where the envelope header, and for each item the blank lines before it, its header
    and its payload are in ``data``: (header span, [(where the blank lines before the item
    start, item header span, item headers, payload span)]).

    Walks the same grammar as :func:`sentry_mirror.core.envelope.parse`, which gave ``parsed``."""
    end = data.find(b"\n")
    header = _Span(0, len(data) if end < 0 else end)
    pos = len(data) if end < 0 else end + 1
    items = []
    size = len(data)
    for item in parsed.items:
        lead = pos
        while pos < size and data[pos] in b" \t\r\n":
            pos += 1
        end = data.find(b"\n", pos)
        item_header = _Span(pos, size if end < 0 else end)
        headers = item.headers
        pos = size if end < 0 else end + 1
        length = headers.get("length")
        if length is None:
            end = data.find(b"\n", pos)
            payload = _Span(pos, size if end < 0 else end)
        else:
            payload = _Span(pos, pos + length)
        pos = payload.end + 1
        items.append((lead, item_header, headers, payload))
    return header, items


@dataclass(frozen=True, slots=True)
class EnvelopeRewrite:
    body: bytes
    event_id: str | None
    item_types: tuple[str, ...]
    changes: tuple[str, ...]


def rewrite_envelope(
    data: bytes,
    *,
    dsn: str | None,
    public_key: str | None,
    ids: IdMap | None = None,
    shift: float | None = None,
    sent_at: datetime | None = None,
) -> EnvelopeRewrite:
    """Rewrite envelope bytes for a target; raises :class:`EnvelopeError` when ``data`` is not one.

    ``dsn`` replaces the header's ``dsn`` (when it has one), ``public_key`` the header's
    ``trace.public_key``; ``ids`` gives fresh event ids; ``shift`` moves the timestamps and
    ``sent_at`` (when given) replaces the header's ``sent_at``. Parts that need no change
    keep their bytes."""
    parsed = envelope_mod.parse(data, strict=False)
    header_span, item_spans = _spans(data, parsed)
    headers, changes = _rewrite_header(parsed.headers, dsn, public_key, ids, shift, sent_at)
    replacements: list[tuple[_Span, bytes]] = []
    if headers != parsed.headers:
        try:
            replacements.append((header_span, orjson.dumps(headers)))
        except orjson.JSONEncodeError:  # nested deeper than JSON output allows: sent as recorded
            changes.append("envelope header kept (too deep to rewrite)")
    if ids is not None or shift is not None:
        payload_changes = _rewrite_payloads(item_spans, parsed.items, ids, shift, replacements)
        changes += sorted(f"payload {c}" for c in payload_changes)
    body = _splice(data, replacements)
    return EnvelopeRewrite(
        body, envelope_mod.normalize_uuid(headers.get("event_id")), parsed.item_types, tuple(changes)
    )


def _rewrite_header(
    recorded: dict[str, Any],
    dsn: str | None,
    public_key: str | None,
    ids: IdMap | None,
    shift: float | None,
    sent_at: datetime | None,
) -> tuple[dict[str, Any], list[str]]:
    """The envelope header as :func:`rewrite_envelope` rewrites it, and what changed."""
    changes: list[str] = []
    headers = dict(recorded)
    if dsn is not None and isinstance(headers.get("dsn"), str) and headers["dsn"] != dsn:
        headers["dsn"] = dsn
        changes.append("dsn")
    trace = headers.get("trace")
    if (
        public_key is not None
        and isinstance(trace, dict)
        and "public_key" in trace
        and trace["public_key"] != public_key
    ):
        headers["trace"] = trace = {**trace, "public_key": public_key}
        changes.append("trace.public_key")
    if ids is not None:
        if "event_id" in headers and envelope_mod.normalize_uuid(headers["event_id"]):
            headers["event_id"] = ids.get(headers["event_id"])
            changes.append("event_id")
        if isinstance(trace, dict) and envelope_mod.normalize_uuid(trace.get("replay_id")):
            headers["trace"] = {**trace, "replay_id": ids.get(trace["replay_id"])}
    if "sent_at" in headers and (sent_at is not None or shift is not None):
        new = (
            format_like(sent_at, headers["sent_at"])
            if sent_at is not None
            else shift_value(headers["sent_at"], shift or 0.0)
        )
        if new != headers["sent_at"]:
            headers["sent_at"] = new
            changes.append("sent_at")
    return headers, changes


def _rewrite_payloads(
    item_spans: list[tuple[int, _Span, dict[str, Any], _Span]],
    items: Sequence[envelope_mod.Item],
    ids: IdMap | None,
    shift: float | None,
    replacements: list[tuple[_Span, bytes]],
) -> set[str]:
    """Fresh ids and shifted timestamps in the JSON payloads: their new bytes (and item
    headers, for the ``length``) added to ``replacements``; what changed, returned."""
    payload_changes: set[str] = set()
    for (_, head_span, item_headers, payload_span), item in zip(item_spans, items, strict=True):
        if item.type not in _JSON_ITEM_TYPES:
            continue
        try:
            payload = orjson.loads(item.payload)
        except orjson.JSONDecodeError:
            continue
        changed = False
        if ids is not None and fresh_payload_ids(item.type, payload, ids):
            changed = True
            payload_changes.add("ids")
        if shift is not None and shift_payload(item.type, payload, shift):
            changed = True
            payload_changes.add("timestamps")
        if not changed:
            continue
        try:
            new_payload = orjson.dumps(payload)
            new_head = orjson.dumps({**item_headers, "length": len(new_payload)}) if "length" in item_headers else None
        except orjson.JSONEncodeError:  # nested deeper than JSON output allows: sent as recorded
            payload_changes.add("kept (too deep to rewrite)")
            continue
        replacements.append((payload_span, new_payload))
        if new_head is not None:
            replacements.append((head_span, new_head))
    return payload_changes


def drop_items(data: bytes, categories: frozenset[str]) -> tuple[bytes, tuple[str, ...]]:
    """``data`` without the items whose rate-limit category is in ``categories`` (as an SDK
    drops rate-limited items), and the types dropped. The rest keeps its bytes.

    An item goes with the blank lines before it (never the ones after it), so what is left
    never ends in a blank line, which servers refuse."""
    _, spans = _spans(data, envelope_mod.parse(data, strict=False))
    dropped: list[str] = []
    cuts: list[tuple[_Span, bytes]] = []
    for lead, _, headers, payload in spans:
        item_type = str(headers["type"]) if isinstance(headers.get("type"), str) else ""
        if category_of(item_type) in categories:
            end = payload.end + 1 if payload.end < len(data) else payload.end
            cuts.append((_Span(lead, end), b""))
            dropped.append(item_type)
    return _splice(data, cuts), tuple(dropped)


def _splice(data: bytes, replacements: list[tuple[_Span, bytes]]) -> bytes:
    if not replacements:
        return data
    out: list[bytes] = []
    pos = 0
    for span, new in sorted(replacements, key=lambda r: r[0].start):
        out += [data[pos : span.start], new]
        pos = span.end
    out.append(data[pos:])
    return b"".join(out)


def rewrite_event_json(
    data: bytes, *, ids: IdMap | None, shift: float | None
) -> tuple[bytes, str | None, tuple[str, ...]]:
    """A store-endpoint body (an event as JSON): fresh ids and shifted timestamps."""
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError:
        return data, None, ()
    if not isinstance(event, dict):
        return data, None, ()
    changes = []
    if ids is not None and fresh_payload_ids("event", event, ids):
        changes.append("payload ids")
    if shift is not None and shift_payload("event", event, shift):
        changes.append("payload timestamps")
    event_id = envelope_mod.normalize_uuid(event.get("event_id"))
    if changes:
        try:
            return orjson.dumps(event), event_id, tuple(changes)
        except orjson.JSONEncodeError:  # nested deeper than JSON output allows: sent as recorded
            return data, event_id, ("payload kept (too deep to rewrite)",)
    return data, event_id, ()
