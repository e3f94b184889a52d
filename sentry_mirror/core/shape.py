"""Is a snapshot record usable? Its shape checked once, where it is read.

Every reader (``inspect``, ``show``, ``group``, ``report``, ``diff``, ``export``,
``replay``) indexes a record's fields without checking them: the listener writes every
field with its type (see :mod:`sentry_mirror.core.record`). A record that is not what the
listener writes (edited by hand, written by another tool, damaged where the compression
did not notice) is found here, once, and skipped with a warning naming the record and the
field, so no reader meets it. The payloads inside a record's body are the client's and may
hold anything: the walkers over them are type-tolerant instead.

:func:`problem` is the check; it costs a few microseconds a record (one type lookup per
field, the headers and summary items, the receive time).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import operator
import re
from datetime import datetime
from typing import Any

from sentry_mirror.core.tolerant import json_type, json_type_of

NONE = type(None)

#: Top-level fields, and the types each may have (bool is not int here: ``type() is``).
_TOP: tuple[tuple[str, tuple[type, ...]], ...] = (
    ("id", (str,)),
    ("received_at", (str,)),
    ("remote_addr", (str, NONE)),
    ("method", (str,)),
    ("path", (str,)),
    ("query", (str,)),
    ("headers", (list,)),
    ("endpoint", (str,)),
    ("project_id", (str, NONE)),
    ("auth", (dict, NONE)),
    ("content_encoding", (str, NONE)),
    ("wire_size", (int,)),
    ("body_size", (int,)),
    ("body", (str,)),
    ("body_base64", (bool,)),
    ("summary", (dict,)),
    ("error", (str, NONE)),
    ("response", (dict,)),
)
#: Fields that may also be absent (hand-made records, older writers: body_decoded is then true).
_OPTIONAL: tuple[tuple[str, tuple[type, ...]], ...] = (
    ("notes", (list, NONE)),
    ("body_decoded", (bool, NONE)),
    ("body_truncated", (bool, NONE)),
    ("body_encoded", (bool, NONE)),  # format version 2 (on main): true when the body is kept compressed
    ("forwarded_to", (str, NONE)),  # forward mode: where it was sent on (its answer: core/answer.py)
    ("scripted", (dict, NONE)),  # listen --script/--scenario: the rule that gave the answer (io/scripting.py)
)
#: Summary fields (each may be absent: records before the summary held the facts).
_SUMMARY: tuple[tuple[str, tuple[type, ...]], ...] = (
    ("event_id", (str, NONE)),
    ("sdk", (str, NONE)),
    ("title", (str, NONE)),
    ("level", (str, NONE)),
    ("environment", (str, NONE)),
    ("release", (str, NONE)),
    ("envelope_header", (dict, NONE)),
    ("items", (list, NONE)),
)
_RESPONSE: tuple[tuple[str, tuple[type, ...]], ...] = (
    ("status", (int,)),
    ("headers", (list,)),
    ("body", (str,)),
    ("body_base64", (bool,)),
)
_TEXT_OR_NULL = frozenset({str, NONE})


def _signatures(fields: tuple[tuple[str, tuple[type, ...]], ...], absent: bool = False) -> frozenset[tuple[type, ...]]:
    """Every allowed tuple of the fields' types (a missing field reads as None's type)."""
    choices = [tuple(dict.fromkeys((*types, NONE))) if absent else types for _, types in fields]
    return frozenset(itertools.product(*choices))


_TOP_KEYS = tuple(name for name, _ in _TOP)
_TOP_OK = _signatures(_TOP)
_OPTIONAL_KEYS = tuple(name for name, _ in _OPTIONAL)
_OPTIONAL_OK = _signatures(_OPTIONAL, absent=True)
_SUMMARY_KEYS = tuple(name for name, _ in _SUMMARY)
_SUMMARY_OK = _signatures(_SUMMARY, absent=True)
_RESPONSE_KEYS = tuple(name for name, _ in _RESPONSE)
_RESPONSE_OK = _signatures(_RESPONSE)
#: A record id: the listener writes 32 hex digits; letters, digits, "-" and "_" are taken.
_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
_ITEM_OK = frozenset({(str, int, dict), (str, int, NONE)})


def _wrong(data: dict[str, Any], fields: tuple[tuple[str, tuple[type, ...]], ...], where: str, absent: bool) -> str:
    """The first field of ``fields`` whose type is not allowed, said for a person."""
    for name, types in fields:
        if name not in data:
            if absent:
                continue
            return f"no field {where}{name}"
        value = data[name]
        if type(value) not in types:
            return f"{where}{name} is {json_type(value)}, not {' or '.join(json_type_of(t) for t in types)}"
    return f"{where} has fields of unexpected types"  # not reached: the signature said otherwise


def _time_ok(text: str) -> bool:
    """A receive time as format_time writes it (fixed width, UTC, ``Z``): readers compare them as text."""
    if text[10] != "T":
        return False
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


_top_values = operator.itemgetter(*_TOP_KEYS)
_response_values = operator.itemgetter(*_RESPONSE_KEYS)


def usable(data: dict[str, Any]) -> bool:
    """True when every field a reader uses has the type the listener writes (the fast check:
    :func:`problem` says what is wrong)."""
    try:
        values = _top_values(data)
        if tuple(map(type, values)) not in _TOP_OK:
            return False
        if tuple(map(type, map(data.get, _OPTIONAL_KEYS))) not in _OPTIONAL_OK:
            return False
        summary, response = data["summary"], data["response"]
        if tuple(map(type, map(summary.get, _SUMMARY_KEYS))) not in _SUMMARY_OK:
            return False
        if tuple(map(type, _response_values(response))) not in _RESPONSE_OK:
            return False
    except KeyError:
        return False
    return _details(data, summary, response) is None


def problem(data: dict[str, Any]) -> str | None:
    """Why the record ``data`` (of the current format version) cannot be read, or None when
    every field a reader uses has the type the listener writes."""
    get = data.get
    if tuple(map(type, map(get, _TOP_KEYS))) not in _TOP_OK or any(name not in data for name in _TOP_KEYS):
        return _wrong(data, _TOP, "", absent=False)
    if tuple(map(type, map(get, _OPTIONAL_KEYS))) not in _OPTIONAL_OK:
        return _wrong(data, _OPTIONAL, "", absent=True)
    summary, response = data["summary"], data["response"]
    if tuple(map(type, map(summary.get, _SUMMARY_KEYS))) not in _SUMMARY_OK:
        return _wrong(summary, _SUMMARY, "summary.", absent=True)
    if tuple(map(type, map(response.get, _RESPONSE_KEYS))) not in _RESPONSE_OK:
        return _wrong(response, _RESPONSE, "response.", absent=False)
    return _details(data, summary, response)


def _details(data: dict[str, Any], summary: dict[str, Any], response: dict[str, Any]) -> str | None:
    """The checks below the field types: sizes, the receive time, headers, summary items,
    auth, notes, flags, base64 bodies."""
    if _ID.fullmatch(data["id"]) is None:  # (it names files: `export --envelopes`)
        return f"id is not a record id ({data['id'][:40]!r})"
    if data["wire_size"] < 0 or data["body_size"] < 0:
        return "a negative size"
    received = data["received_at"]
    if len(received) != 27 or received[-1] != "Z" or not _time_ok(received):
        return f"received_at is not a UTC time as sentry-mirror writes it ({received[:40]!r})"
    for pair in data["headers"]:
        if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str or type(pair[1]) is not str:
            return "headers are not [name, value] pairs of text"
    for pair in response["headers"]:
        if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str or type(pair[1]) is not str:
            return "response.headers are not [name, value] pairs of text"
    items = summary.get("items")
    if items:
        for item in items:
            if (
                type(item) is not dict
                or (type(item.get("type")), type(item.get("size")), type(item.get("headers"))) not in _ITEM_OK
            ):
                return "summary.items are not {type, size, headers} objects"
            if item["size"] < 0:
                return "a negative size"
    auth = data.get("auth")
    if auth and not _TEXT_OR_NULL.issuperset(map(type, auth.values())):
        name, value = next((k, v) for k, v in auth.items() if type(v) not in _TEXT_OR_NULL)
        return f"auth.{name} is {json_type(value)}, not a string"
    notes = data.get("notes")
    if notes and not all(type(note) is str for note in notes):
        return "notes are not a list of text"
    if data["body_base64"] and not _base64_ok(data["body"]):
        return "body is not base64, as body_base64 says"
    if response["body_base64"] and not _base64_ok(response["body"]):
        return "response.body is not base64, as its body_base64 says"
    return None


def _base64_ok(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


class Skipped(str):
    """A reader's warning about one record it could not use (a ``str``: every ``on_warning``
    takes it as it is), with the record's id (None when it has none) for counting."""

    record_id: str | None
    reason: str

    def __new__(cls, message: str, record_id: str | None, reason: str = "") -> Skipped:
        text = super().__new__(cls, message)
        text.record_id = record_id
        text.reason = reason or message
        return text


def record_id(data: Any) -> str | None:
    """The record's id when it has a usable one."""
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


def skipped(where: str, data: Any, reason: str) -> Skipped:
    """The warning for a record skipped at ``where`` (a file name, or a command) because of ``reason``."""
    ident = record_id(data)
    named = (
        "a record without an id"
        if not ident
        else f"record {ident[:64]}"
        if ident.isprintable()
        else f"record {ident[:64]!r}"
    )
    return Skipped(f"{where}: skipped {named}: {reason}", ident, reason)
