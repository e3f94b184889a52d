"""Sentry envelopes: parse and serialize, byte-exact, with Relay's error wording.

Grammar (Relay ``envelope/mod.rs``)::

    Envelope = Headers { "\\n" Item } [ "\\n" ]
    Item     = Headers "\\n" Payload
    Headers  = one JSON object on one line

A payload is ``length`` bytes when the item header has ``length`` (and may then hold
newlines or binary), else it runs to the next ``\\n`` or the end. Every header and
payload is followed by exactly ``\\n`` or the end of the body: a ``\\r`` or a space there
is an error, as in Relay.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from sentry_mirror.core import leanjson
from sentry_mirror.errors import EnvelopeError

#: An event id as Relay takes it: 32 hex digits, with or without the UUID dashes (any case).
UUID_PATTERN = "[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_UUID = re.compile(f"^(?:{UUID_PATTERN})$")
_TRAILING_BYTES = frozenset(b" \t\r")
#: A header line longer than this is parsed from a view of the body, not a copy of it: a
#: 198 MiB envelope header line otherwise cost its size once more (orjson reads both);
#: one over leanjson.LEAN_ABOVE has its long strings cut.
_VIEW_LINE_ABOVE = 1 << 16
_WHITESPACE = b" \t\r\n"

#: Item types whose presence makes Relay need (or generate) an event id.
EVENT_ID_ITEM_TYPES = frozenset(
    {
        "event",
        "transaction",
        "security",
        "raw_security",
        "attachment",
        "form_data",
        "unreal_report",
        "user_report",
        "feedback",
        "replay_event",
        "profile",
    }
)

#: A payload bigger than this is a view of the body, not a copy: a 199 MiB attachment would
#: otherwise cost the listener its size twice (readers meet one only in captures written
#: before such bodies were kept compressed). ``orjson.loads``, ``len`` and joins take both.
VIEW_ABOVE = 32 << 20

#: Item types a client must never send (Relay: ``envelope contains internal items``).
#: The record endpoints whose bodies are envelopes (the envelope endpoint and a tunnel's).
ENVELOPE_ENDPOINTS = frozenset({"envelope", "tunnel"})
INTERNAL_ITEM_TYPES = frozenset({"integration"})

#: The item type spellings Relay reads as another type: ``profile_chunk_ui`` (sent by the
#: Android SDK 8.10 and 8.11) is a ``profile_chunk`` (relay-server ``envelope/item.rs``).
RELAY_ALIASES = {"profile_chunk_ui": "profile_chunk"}
#: What the mirror's readers count as one type: Relay's aliases, and ``trace-metric`` (the
#: spelling of the container's content type), which Relay does not name (an unknown item,
#: passed on): counted as ``trace_metric``. The record keeps the spelling sent.
TYPE_ALIASES = {**RELAY_ALIASES, "trace-metric": "trace_metric"}


def canonical_type(item_type: str) -> str:
    """The item type ``item_type`` is counted as (:data:`TYPE_ALIASES`)."""
    return TYPE_ALIASES.get(item_type, item_type)


@dataclass(slots=True)
class Item:
    """One envelope item: its header object and its payload bytes. (Not frozen: one is
    made for every item captured or read, and a frozen dataclass is twice as slow to make;
    nothing changes one.)"""

    headers: dict[str, Any]
    payload: bytes | memoryview  # a view above VIEW_ABOVE bytes

    @property
    def type(self) -> str:
        """The item type as counted: another spelling of a type is that type (:data:`TYPE_ALIASES`)."""
        return canonical_type(self.sent_type)

    @property
    def sent_type(self) -> str:
        """The item type as the sender spelled it."""
        value = self.headers.get("type")
        return value if isinstance(value, str) else ""

    def json(self) -> Any:
        """The payload parsed as JSON; :class:`EnvelopeError` if it is not JSON."""
        try:
            return orjson.loads(self.payload)
        except orjson.JSONDecodeError as exc:
            raise EnvelopeError(f"item payload of type {self.type!r} is not JSON: {exc}") from None


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed envelope. ``headers`` keeps unknown keys; ``items`` keeps order."""

    headers: dict[str, Any] = field(default_factory=dict)
    items: tuple[Item, ...] = ()

    @property
    def event_id(self) -> str | None:
        """The envelope header's event id, normalised to 32 lower-case hex digits."""
        return normalize_uuid(self.headers.get("event_id"))

    @property
    def item_types(self) -> tuple[str, ...]:
        return tuple(item.type for item in self.items)


def normalize_uuid(value: object) -> str | None:
    """``value`` as 32 lower-case hex digits when it is a UUID (dashed or not), else None."""
    if isinstance(value, str) and _UUID.match(value):
        return value.replace("-", "").lower()
    return None


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen.add(key)
    return result


_STRICT_DECODER = json.JSONDecoder(object_pairs_hook=_reject_duplicates)


#: serde_json's default recursion limit: Relay cannot read a header nested deeper.
MAX_HEADER_DEPTH = 128


def _key_count(value: Any) -> int:
    """The number of object keys in a parsed JSON value, at every depth (a loop, not
    recursion); ValueError when it nests deeper than :data:`MAX_HEADER_DEPTH`."""
    count = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_HEADER_DEPTH:
            raise ValueError("nested too deep")
        if type(node) is dict:
            count += len(node)
            children = node.values()
        else:
            children = node
        for child in children:
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1))
    return count


def _header_line(data: bytes, start: int, what: str, strict: bool = True) -> tuple[dict[str, Any], int]:
    """Parse the JSON object on the line at ``start``; return it and the offset after its newline."""
    end = data.find(b"\n", start)
    stop = len(data) if end < 0 else end
    try:
        # a long line (over 1 MiB) is parsed with its long strings checked in pieces and cut
        # (core/leanjson.py): orjson would hold a 198 MiB one twice, with the GIL
        line = data[start:stop] if stop - start <= _VIEW_LINE_ABOVE else leanjson.reduced(data, start, stop)
        value = orjson.loads(line)
        if (
            strict
            and isinstance(value, dict)
            and what == "envelope header"
            and bytes(line).count(b'":') != _key_count(value)
        ):
            # Relay rejects duplicate keys (the docs warn about a doubled sent_at);
            # orjson keeps the last one silently. A duplicate leaves fewer keys than the
            # text has `":`; when the counts differ (a duplicate, or `":` inside a string,
            # or spaces before a colon) the strict decoder decides.
            _STRICT_DECODER.decode(bytes(line).decode("utf-8"))  # raises on a duplicate; orjson's value is kept
    except (orjson.JSONDecodeError, ValueError, UnicodeDecodeError, RecursionError):
        raise EnvelopeError(f"invalid {what}", offset=start) from None
    if not isinstance(value, dict):
        raise EnvelopeError(f"invalid {what}", offset=start)
    # Relay parses the JSON value first, then wants "\n" or the end right after it: JSON
    # whitespace there (a space, a tab, the "\r" of "\r\n") is a missing newline.
    if stop > start and data[stop - 1] in _TRAILING_BYTES:
        raise EnvelopeError("missing newline after header or payload", offset=stop - 1)
    return value, (stop if end < 0 else end + 1)


def parse(data: bytes, *, strict: bool = True) -> Envelope:
    """Parse ``data`` as an envelope.

    ``strict=False`` skips the checks that only decide Relay's answer (duplicate keys and a
    malformed ``event_id`` in the envelope header): for reading recorded envelopes.

    Raises :class:`EnvelopeError` (and nothing else) for any input that is not one; its
    ``cause`` is the text Relay puts in its 400 answer.
    """
    headers, pos = parse_head(data, strict=strict)
    return Envelope(headers, _items(data, pos))


def parse_head(data: bytes, *, strict: bool = True) -> tuple[dict[str, Any], int]:
    """The envelope header of ``data`` and the offset of its first item: with
    :func:`iter_items`, an envelope of a million items is read one item at a time."""
    headers, pos = _header_line(data, 0, "envelope header", strict)
    event_id = headers.get("event_id")
    if strict and event_id is not None and normalize_uuid(event_id) is None:
        raise EnvelopeError("invalid envelope header", offset=0)
    return headers, pos


def items_of(data: bytes) -> tuple[Item, ...]:
    """The items of an envelope, for readers that do not need its header: as
    ``parse(data, strict=False).items``, but the header line is skipped, not parsed."""
    end = data.find(b"\n")
    return () if end < 0 else _items(data, end + 1)


def _items(data: bytes, pos: int) -> tuple[Item, ...]:
    return tuple(iter_items(data, pos))


def iter_items(data: bytes, pos: int) -> Iterator[Item]:
    """The items from ``pos`` on, one at a time; :class:`EnvelopeError` where one is bad."""
    # The item header is parsed inline, not by _header_line: this loop runs for every
    # item captured and read, and the call was a third of its cost.
    find = data.find
    size = len(data)
    while pos < size:
        if data[pos] in _WHITESPACE:
            # Relay's JSON stream reader skips whitespace before an item header, so blank
            # lines between items are tolerated; whitespace up to the end is not an item.
            while pos < size and data[pos] in _WHITESPACE:
                pos += 1
            if pos >= size:
                raise EnvelopeError("unexpected end of file", offset=pos)
        end = find(b"\n", pos)
        stop = size if end < 0 else end
        try:
            item_headers = (
                orjson.loads(data[pos:stop]) if stop - pos <= _VIEW_LINE_ABOVE else leanjson.loads(data, pos, stop)
            )
        except (ValueError, RecursionError):  # orjson.JSONDecodeError is a ValueError
            raise EnvelopeError("invalid item header", offset=pos) from None
        if type(item_headers) is not dict:
            raise EnvelopeError("invalid item header", offset=pos)
        if stop > pos and data[stop - 1] in _TRAILING_BYTES:  # see _header_line
            raise EnvelopeError("missing newline after header or payload", offset=stop - 1)
        pos = stop if end < 0 else end + 1
        length = item_headers.get("length")
        if length is None:
            end = find(b"\n", pos)
            stop = size if end < 0 else end
            yield Item(item_headers, data[pos:stop] if stop - pos <= VIEW_ABOVE else memoryview(data)[pos:stop])
            pos = size if end < 0 else end + 1
            continue
        if type(length) is not int or length < 0:
            raise EnvelopeError("invalid item header", offset=pos)
        stop = pos + length
        if stop > size:
            raise EnvelopeError("unexpected end of file", offset=size)
        if stop < size and data[stop] != 0x0A:
            raise EnvelopeError("missing newline after header or payload", offset=stop)
        yield Item(item_headers, data[pos:stop] if length <= VIEW_ABOVE else memoryview(data)[pos:stop])
        pos = stop + 1


def serialize(envelope: Envelope) -> bytes:
    """Envelope bytes as sentry-python writes them: ``length`` on every item, trailing newline."""
    parts: list[bytes | memoryview] = [orjson.dumps(envelope.headers), b"\n"]
    for item in envelope.items:
        headers = {**item.headers, "length": len(item.payload)}
        parts += [orjson.dumps(headers), b"\n", item.payload, b"\n"]
    return b"".join(parts)
