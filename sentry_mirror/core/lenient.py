"""JSON as Relay reads it from SDKs: the one lenient loader every reader shares.

orjson first (fast, strict); when it refuses, Python's ``json``, which also reads what
sentry-python and raven send and Relay repairs: ``NaN``, ``Infinity``, and lone surrogates
(``"\\ud800"``), kept as sent (hashes encode them with surrogatepass, outputs escape them:
``ui/safe.py``).

orjson reads integers beyond 64 bits as floats without complaint; text holding a run of 19 or
more digits (``-9223372036854775809`` is the shortest such integer) is read by ``json`` too,
which keeps them exact.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

#: What the fallback parser raises on input it cannot read (``JSONDecodeError`` is a ValueError).
_UNREADABLE = (ValueError, UnicodeDecodeError, RecursionError)

#: A run of digits that may be an integer orjson cannot hold (below -2**63 or above 2**64-1).
_LONG_DIGITS = re.compile(r"\d{19,}")
_LONG_DIGIT_BYTES = re.compile(rb"\d{19,}")


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """The JSON value in ``data``; raises ``ValueError`` naming orjson's reason when neither parser reads it."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        reason = exc
    else:
        return _exact(data, value)
    try:
        return _json(data)
    except _UNREADABLE:
        raise ValueError(str(reason)) from None


def _json(data: bytes | bytearray | memoryview | str) -> Any:
    return json.loads(bytes(data) if isinstance(data, memoryview | bytearray) else data)


def _exact(data: bytes | bytearray | memoryview | str, value: Any) -> Any:
    """orjson's ``value`` of ``data``, or ``json``'s when the text may hold an integer beyond 64 bits."""
    found = _LONG_DIGITS.search(data) if isinstance(data, str) else _LONG_DIGIT_BYTES.search(data)
    if found is None:
        return value
    try:
        return _json(data)
    except _UNREADABLE:  # nesting orjson reads but json's recursion limit refuses
        return value


def loads_or_none(data: bytes | bytearray | memoryview | str) -> Any:
    """:func:`loads`, or None for unreadable input."""
    try:
        return loads(data)
    except ValueError:
        return None
