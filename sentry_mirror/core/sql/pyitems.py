"""The items SQL cannot split exactly, read by the project's own parsers (pure).

For a record selected by :data:`~sentry_mirror.core.sql.views.PY_ITEM_SOURCES` (an
envelope with a base64 or kept-encoded body, or with payloads spanning lines; a store or
multipart upload), :func:`rows` gives its rows of the items table, as
:data:`~sentry_mirror.core.sql.views.PY_ITEM_COLUMNS` lists them:

- an envelope: every item :func:`sentry_mirror.core.envelope.items_of` reads from
  :func:`sentry_mirror.core.bodies.readable` (a body kept encoded: without its items over
  1 MiB), none when the envelope does not parse (as every other reader);
- a store or multipart upload: the event (or transaction) it carries
  (:func:`sentry_mirror.core.grouping.records.events_of`), headers and size NULL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from sentry_mirror.core import bodies, envelope
from sentry_mirror.core.grouping.records import events_of
from sentry_mirror.core.lenient import loads_or_none
from sentry_mirror.core.record import SURROGATE
from sentry_mirror.core.sql.views import ENVELOPE_ENDPOINTS
from sentry_mirror.errors import EnvelopeError, MirrorError

#: The columns of a source row, in the order PY_ITEM_SOURCES selects them.
SOURCE_COLUMNS = (
    "id",
    "received_at",
    "day",
    "project",
    "sdk",
    "event_id",
    "endpoint",
    "method",
    "query",
    "headers",
    "body",
    "body_base64",
    "body_encoded",
    "content_encoding",
    "summary",
)


def _json_text(value: Any) -> str | None:
    """``value`` as JSON text for DuckDB; None for None. NaN and infinities are written as
    null, lone surrogates as U+FFFD (DuckDB's JSON holds valid UTF-8 only)."""
    if value is None:
        return None
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError: a lone surrogate, an integer over 64 bits, deep nesting
        pass
    try:
        return SURROGATE.sub("\ufffd", json.dumps(value, ensure_ascii=False, default=str))
    except (ValueError, RecursionError):
        return None


def _data(source: Sequence[Any]) -> dict[str, Any]:
    """The record fields the readers look at, from a source row (JSON columns parsed)."""
    data = dict(zip(SOURCE_COLUMNS, source, strict=True))
    data["headers"] = loads_or_none(data["headers"]) if data["headers"] else []
    data["summary"] = loads_or_none(data["summary"]) if data["summary"] else None
    data["body"] = data["body"] or ""
    data["body_decoded"] = True
    return data


def _item_rows(data: Mapping[str, Any]) -> list[tuple[int, str, str | None, int | None, Any]]:
    """``(index, type, headers JSON, size, payload)`` of the record's items."""
    if data["endpoint"] in ENVELOPE_ENDPOINTS:
        try:
            items = envelope.items_of(bodies.readable(data))
        except EnvelopeError:
            return []
        return [
            (index, item.type, _json_text(item.headers), len(item.payload), loads_or_none(item.payload))
            for index, item in enumerate(items)
        ]
    return [(index, kind, None, None, event) for index, (event, kind) in enumerate(events_of(data))]


def rows(source: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The items-table rows of one source row (see the module docstring); none for a body
    that does not decode (base64 that is not, a compressed body that is not: records no
    listener writes, which the snapshot reader skips)."""
    data = _data(source)
    try:
        items = _item_rows(data)
    except (ValueError, MirrorError):  # binascii.Error is a ValueError
        return []
    return [
        (
            data["id"],
            data["received_at"],
            data["day"],
            data["project"],
            data["sdk"],
            data["event_id"],
            data["endpoint"],
            index,
            kind,
            headers,
            size,
            _json_text(payload),
        )
        for index, kind, headers, size, payload in items
    ]
