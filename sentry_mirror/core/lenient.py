"""JSON as Relay reads it from SDKs: the one lenient loader every reader shares.

orjson first (fast, strict); when it refuses, Python's ``json``, which also reads what
sentry-python and raven send and Relay repairs: ``NaN``, ``Infinity``, and lone surrogates
(``"\\ud800"``), kept as sent (hashes encode them with surrogatepass, outputs escape them:
``ui/safe.py``).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

#: What the fallback parser raises on input it cannot read (``JSONDecodeError`` is a ValueError).
_UNREADABLE = (ValueError, UnicodeDecodeError, RecursionError)


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """The JSON value in ``data``; raises ``ValueError`` naming orjson's reason when neither parser reads it."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        reason = exc
    try:
        return json.loads(bytes(data) if isinstance(data, memoryview | bytearray) else data)
    except _UNREADABLE:
        raise ValueError(str(reason)) from None


def loads_or_none(data: bytes | bytearray | memoryview | str) -> Any:
    """:func:`loads`, or None for unreadable input."""
    try:
        return loads(data)
    except ValueError:
        return None
