"""The snapshot record: one JSON object per request, versioned.

Format versions 1 and 2, field by field (the README has the same table for users); version
2 only adds ``body_encoded``, and a record is written as version 1 unless it has it:

``v``               format version (this module's :data:`RECORD_VERSION`)
``id``              unique, time-ordered 32-hex id (48-bit milliseconds + 80 random bits)
``received_at``     UTC receive time, RFC 3339 with microseconds, ``Z``
``remote_addr``     the peer's address
``method``, ``path``, ``query``    the request line (query without ``?``)
``headers``         every header as ``[name, value]``, in the order received
``endpoint``        envelope, store, security, nel, minidump, unreal, attachments, cron, otlp, tunnel or unknown;
                    ``api_*`` (web API, with ``api`` and maybe ``body_omitted``) and ``upload``
                    (with ``upload``): see core/webapi/ and docs/snapshot-format.md
``project_id``      from the URL (or the envelope ``dsn`` on the tunnel)
``auth``            ``{form, public_key, sentry_version, sentry_client, dsn}`` or null
``content_encoding`` the Content-Encoding header as sent (null when absent)
``wire_size``       body bytes as received; ``body_size`` after decoding
``body``            the decoded body, byte-exact: UTF-8 text, or base64 when ``body_base64``
``body_decoded``    false when decoding failed: ``body`` then holds the wire bytes
``body_truncated``  true when only the start of an over-limit body was kept
``body_encoded``    (format version 2, only when true) the body decoded to more than
                    :data:`KEEP_ENCODED_ABOVE` bytes, so ``body`` holds it as received, still
                    compressed with ``content_encoding`` (base64); ``body_size`` is its
                    decoded size. :mod:`sentry_mirror.core.bodies` reads it in chunks.
``summary``         ``{event_id, sdk, title, level, environment, release, envelope_header,
                    items: [{type, size, headers}]}``, bounded (core/bounds.py): header
                    strings cut, at most 1,000 items, then ``items_total`` counts them all
``error``           why the request was refused (null when it was accepted)
``notes``           where the mirror was more lenient than Relay, and other remarks
``response``        ``{status, headers, body, body_base64}`` exactly as sent (status 0, no
                    headers and an empty body when a script dropped the connection)
``scripted``        (only when a script gave the answer: ``listen --script``/``--scenario``)
                    ``{rule, source, natural: {status}, delay_ms, drop, partial}``: the rule's
                    name and where it is written, the status Relay's answer would have had,
                    the delay before answering, a dropped connection, a rate limit on a
                    request partly taken; ``note`` (when present) why the answer differs
                    from the rule's (a delay not waited: too many waiting) (docs/scripts.md)
``mirror``          ``{version}`` of the sentry-mirror that wrote it
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from sentry_mirror import __version__
from sentry_mirror.core import bodies
from sentry_mirror.core.envelope import canonical_type
from sentry_mirror.core.ingest import Outcome, Request

#: The format version of the records written; one whose body is kept encoded gets
#: :data:`ENCODED_BODY_VERSION`, so an older sentry-mirror refuses it (asking to upgrade)
#: instead of reading compressed bytes as the body.
RECORD_VERSION = 1
#: Version 2 adds only ``body_encoded``; a version-1 record is a version-2 record as it is.
ENCODED_BODY_VERSION = 2
#: The newest format version this sentry-mirror reads.
NEWEST_VERSION = 2
#: A body that decodes to more than this is kept in its record as received (``body_encoded``):
#: decoded, it would cost the listener and every reader several times its size.
KEEP_ENCODED_ABOVE = 32 * 1024 * 1024

_random = random.Random(os.urandom(32))


def new_id(now_ns: int | None = None) -> str:
    """A UUIDv7-like id: sorts by creation time, unique across processes.

    80 random bits from a generator seeded from the OS once (``os.urandom`` on every
    record was a system call on the listener's hot path)."""
    ms = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    return f"{ms:012x}{_random.getrandbits(80):020x}"


def format_time(moment: datetime) -> str:
    """``2026-11-23T10:00:01.123456Z`` (``moment`` is converted to UTC)."""
    m = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}.{m.microsecond:06d}Z"


def parse_time(text: str) -> datetime:
    """A time :func:`format_time` wrote (``…Z``), as an aware UTC datetime."""
    moment = datetime.fromisoformat(text)  # ten times strptime's speed
    if moment.utcoffset() != timedelta(0):
        raise ValueError(f"not a UTC time: {text!r}")
    return moment.replace(tzinfo=UTC)


def encode_bytes(data: bytes) -> tuple[str, bool]:
    """``(text, is_base64)``: UTF-8 text when ``data`` is valid UTF-8, else base64."""
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), True


def decode_bytes(text: str, is_base64: bool) -> bytes:
    return base64.b64decode(text) if is_base64 else text.encode("utf-8")


def build(
    request: Request,
    outcome: Outcome,
    *,
    received_at: datetime,
    remote_addr: str | None,
    wire_size: int | None = None,
    truncated: bool = False,
    record_id: str | None = None,
) -> dict[str, Any]:
    """The record for one request and the outcome it got."""
    keep_encoded = outcome.decoded and outcome.encoding is not None and len(outcome.body) > KEEP_ENCODED_ABOVE
    body, body_b64 = encode_bytes(request.body if keep_encoded else outcome.body)
    response_body, response_b64 = encode_bytes(outcome.response.body)
    entry: dict[str, Any] = {
        "v": ENCODED_BODY_VERSION if keep_encoded else RECORD_VERSION,
        "id": record_id or new_id(),
        "received_at": format_time(received_at),
        "remote_addr": remote_addr,
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "headers": list(request.headers),  # pairs: JSON arrays on disk
        "endpoint": outcome.endpoint,
        "project_id": outcome.project_id,
        "auth": outcome.auth.to_dict() if outcome.auth else None,
        "content_encoding": request.header("content-encoding"),
        "wire_size": len(request.body) if wire_size is None else wire_size,
        "body_size": len(outcome.body),
        "body": body,
        "body_base64": body_b64,
        "body_decoded": outcome.decoded,
        "body_truncated": truncated,
        "summary": {
            "event_id": outcome.event_id,
            "sdk": outcome.sdk,
            "title": outcome.facts.title,
            "level": outcome.facts.level,
            "environment": outcome.facts.environment,
            "release": outcome.facts.release,
            "envelope_header": outcome.envelope_header,
            "items": list(outcome.items),
        },
        "error": outcome.error,
        "notes": list(outcome.notes),
        "response": {
            "status": outcome.response.status,
            "headers": list(outcome.response.headers),
            "body": response_body,
            "body_base64": response_b64,
        },
        "mirror": {"version": __version__},
    }
    if outcome.items_total is not None:  # the summary lists only the first items (core/bounds.py)
        entry["summary"]["items_total"] = outcome.items_total
    if keep_encoded:
        entry["body_encoded"] = True
    return entry


def dumps(entry: dict[str, Any]) -> bytes:
    """One record as a JSON line; never fails, whatever a client made the record hold.

    Parsed parts a client controls may not fit JSON output, in two steps of repair:

    1. Lone UTF-16 surrogates (``"\\ud800"`` in a lenient JSON body, which Python's parser
       accepts): UTF-8 cannot hold them, so each string that has them is stored with U+FFFD
       in their place, and a note gives the field and its exact value JSON-escaped
       (``"\\ud800"``), so nothing is lost.
    2. Anything else (a bug): a minimal record with the request line, the response as sent
       and the reason, so the request is still on disk with the status its client got.

    The envelope and item headers in the summary need no repair of their own: they are
    bounded (:mod:`sentry_mirror.core.bounds`) to a depth JSON output takes, and hold what
    orjson parsed (no integer over 64 bits).
    """
    try:
        return orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        pass
    repairs: list[str] = []
    repaired = _without_surrogates(entry, "", repairs, 0)
    if repairs:
        repaired["notes"] = [*repaired.get("notes", ()), *repairs]
    try:
        return orjson.dumps(repaired, option=orjson.OPT_APPEND_NEWLINE)
    except Exception as exc:
        return orjson.dumps(minimal(repaired, f"{type(exc).__name__}: {exc}"), option=orjson.OPT_APPEND_NEWLINE)


#: A lone UTF-16 surrogate (not valid UTF-8: written as U+FFFD where the output must be).
SURROGATE = re.compile("[\ud800-\udfff]")
#: Deeper values are left to step 2 of :func:`dumps` (JSON output stops at 254 levels anyway).
_REPAIR_DEPTH = 260


def _without_surrogates(value: Any, where: str, repairs: list[str], depth: int) -> Any:
    """``value`` with lone surrogates replaced by U+FFFD; ``repairs`` gets a note per string."""
    if isinstance(value, str):
        if SURROGATE.search(value) is None:
            return value
        exact = json.dumps(value)  # ASCII, \\ud800 escapes: lossless
        repairs.append(f"{where or 'value'}: lone UTF-16 surrogates stored as U+FFFD; the exact value: {exact}")
        return SURROGATE.sub("\ufffd", value)
    if depth > _REPAIR_DEPTH:
        return value
    if isinstance(value, dict):
        repaired = {}
        for key, item in value.items():
            name = json.dumps(key) if isinstance(key, str) and SURROGATE.search(key) else str(key)  # ASCII-safe
            inner = f"{where}.{name}" if where else name
            new_key = (
                _without_surrogates(key, f"{inner} (the key)", repairs, depth + 1) if isinstance(key, str) else key
            )
            repaired[new_key] = _without_surrogates(item, inner, repairs, depth + 1)
        return repaired
    if isinstance(value, (list, tuple)):
        return [_without_surrogates(v, f"{where}[{i}]", repairs, depth + 1) for i, v in enumerate(value)]
    return value


def _text(value: Any) -> str | None:
    """A string JSON can hold for ``value`` (None stays None)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else repr(value)
    return SURROGATE.sub("\ufffd", text)


def minimal(entry: dict[str, Any], reason: str) -> dict[str, Any]:
    """The smallest record that still says what came in, what was answered and why the full
    record could not be stored: every field a reader needs, each one made JSON-safe."""
    found = entry.get("response")
    response: dict[str, Any] = found if isinstance(found, dict) else {}
    status = response.get("status")
    headers = response.get("headers")
    return {
        "v": RECORD_VERSION,
        "id": _text(entry.get("id")) or new_id(),
        "received_at": _text(entry.get("received_at")) or format_time(datetime.now(UTC)),
        "remote_addr": _text(entry.get("remote_addr")),
        "method": _text(entry.get("method")) or "",
        "path": _text(entry.get("path")) or "",
        "query": _text(entry.get("query")) or "",
        "headers": [[_text(k), _text(v)] for k, v in _pairs(entry.get("headers"))],
        "endpoint": _text(entry.get("endpoint")) or "unknown",
        "project_id": _text(entry.get("project_id")),
        "auth": None,
        "content_encoding": _text(entry.get("content_encoding")),
        "wire_size": entry.get("wire_size") if isinstance(entry.get("wire_size"), int) else 0,
        "body_size": entry.get("body_size") if isinstance(entry.get("body_size"), int) else 0,
        "body": _text(entry.get("body")) or "",
        "body_base64": entry.get("body_base64") is True,
        "body_decoded": entry.get("body_decoded") is True,
        "body_truncated": entry.get("body_truncated") is True,
        "summary": {
            "event_id": None,
            "sdk": None,
            "title": None,
            "level": None,
            "environment": None,
            "release": None,
            "envelope_header": None,
            "items": [],
        },
        "error": _text(entry.get("error")),
        "notes": [f"the full record could not be stored ({_text(reason)}): this is a minimal one"],
        "response": {
            "status": status if isinstance(status, int) else 500,
            "headers": [[_text(k), _text(v)] for k, v in _pairs(headers)],
            "body": _text(response.get("body")) or "",
            "body_base64": response.get("body_base64") is True,
        },
        "mirror": {"version": __version__},
    }


def _pairs(value: Any) -> list[tuple[Any, Any]]:
    if not isinstance(value, (list, tuple)):
        return []
    return [(p[0], p[1]) for p in value if isinstance(p, (list, tuple)) and len(p) == 2]


@dataclass(slots=True)  # not frozen: one is made per record read, and freezing doubles that cost
class Record:
    """A record read back from a snapshot, migrated to the current version.

    ``data`` is the record dict (see the module docstring); the properties are the
    parts every reader needs.
    """

    data: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def received_at(self) -> datetime:
        return parse_time(self.data["received_at"])

    @property
    def body(self) -> bytes:
        """The decoded body (or the wire body when ``body_decoded`` is false), byte-exact.
        A body kept encoded is decoded whole: :func:`sentry_mirror.core.bodies.chunks`
        reads it in bounded memory."""
        if self.data.get("body_encoded"):
            return bodies.whole(self.data)
        return decode_bytes(self.data["body"], self.data["body_base64"])

    @property
    def status(self) -> int:
        return int(self.data["response"]["status"])

    @property
    def event_id(self) -> str | None:
        event_id: str | None = self.data["summary"]["event_id"]
        return event_id

    @property
    def item_types(self) -> list[str]:
        return [canonical_type(item["type"]) for item in self.data["summary"]["items"]]
