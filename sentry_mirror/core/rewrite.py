"""Rewriting one recorded request so that another server (the replay target) accepts it.

Pure: a snapshot record (a dict) in, a :class:`Prepared` request out. What changes, and
only when it must:

- the URL: the target's scheme, host and DSN path prefix; the project id in ``/api/<id>/``
  (the target DSN's, or ``--project-map``); a tunnel request goes to the target's envelope
  endpoint; ``/api/store/`` keeps having no project id.
- the auth, in the form the SDK used (``X-Sentry-Auth``, ``Authorization: Sentry``,
  ``Authorization: Basic``, the query, the key in the path, or the envelope ``dsn``) with
  the target's key; or ``auth="header"``/``"query"`` to use one form for all.
- the envelope header: ``dsn`` (servers check it against the request, Bugsink
  authenticates with it) and the dynamic-sampling ``trace.public_key`` name the target.
- ``fresh_ids``: event ids (and the ids that point at them) replaced through one
  :class:`IdMap`, so an event, its attachments in a later envelope and its user report
  keep pointing at each other.
- ``shift``: seconds added to every timestamp SDKs send (see :data:`TIMESTAMP_FIELDS`);
  ``sent_at`` then becomes the send time, so no server applies clock-drift correction.
- the body encoding: the original Content-Encoding (bodies are stored decoded, so they are
  compressed again) or the one asked for.

Everything else is sent as recorded. An envelope whose payloads need no change keeps
them byte for byte (item headers too); a changed JSON payload is written back compactly,
with its ``length`` updated.
"""

from __future__ import annotations

import base64
import functools
import gzip
import os
import random
import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import brotli
import orjson
import zstandard

from sentry_mirror.core import envelope as envelope_mod
from sentry_mirror.core.auth import Dsn
from sentry_mirror.core.encoding import normalize_encoding
from sentry_mirror.core.record import decode_bytes
from sentry_mirror.errors import EnvelopeError, MirrorError, UnsupportedEncoding

#: ``--encoding`` values; ``original`` keeps the Content-Encoding the SDK used.
ENCODINGS = ("original", "identity", "gzip", "deflate", "br", "zstd")
AUTH_FORMS = ("original", "header", "query")

#: Request headers never copied: the connection's own, and the ones rewritten here.
_DROPPED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "expect",
        "te",
        "upgrade",
        "content-encoding",
        "proxy-connection",
    }
)

#: Item type -> the rate-limit data category Relay counts it in (``X-Sentry-Rate-Limits``).
CATEGORIES = {
    "event": "error",
    "transaction": "transaction",
    "attachment": "attachment",
    "session": "session",
    "sessions": "session",
    "client_report": "internal",
    "user_report": "user_report",
    "feedback": "feedback",
    "check_in": "monitor",
    "profile": "profile",
    "profile_chunk": "profile_chunk",
    "replay_event": "replay",
    "replay_recording": "replay",
    "replay_video": "replay",
    "span": "span",
    "log": "log_item",
    "trace_metric": "trace_metric",
    "statsd": "metric_bucket",
    "metric_buckets": "metric_bucket",
}
#: Endpoint -> category, for requests that are not envelopes.
ENDPOINT_CATEGORIES = {
    "store": "error",
    "minidump": "error",
    "unreal": "error",
    "security": "security",
    "cron": "monitor",
    "attachments": "attachment",
}

# ------------------------------------------------------------------ configuration


@dataclass(frozen=True, slots=True)
class Target:
    """Where to send: the DSN, and ``project_map``: recorded project id -> (project id, key)."""

    dsn: Dsn
    project_map: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def project(self, recorded: str | None) -> tuple[str, str]:
        """(project id, public key) for a request recorded for project ``recorded``."""
        if recorded is not None and recorded in self.project_map:
            return self.project_map[recorded]
        return self.dsn.project_id, self.dsn.public_key

    def dsn_for(self, project_id: str, key: str) -> str:
        return str(Dsn(self.dsn.scheme, key, self.dsn.host, project_id, self.dsn.port, self.dsn.path, self.dsn.secret))

    @property
    def base_url(self) -> str:
        return f"{self.dsn.scheme}://{self.dsn.netloc}{self.dsn.path}"


def parse_project_map(entries: Iterable[str], default_key: str) -> dict[str, tuple[str, str]]:
    """``42=1`` (the DSN's key) or ``42=1:KEY``: recorded project -> (target project, key)."""
    result: dict[str, tuple[str, str]] = {}
    for entry in entries:
        old, sep, new = entry.partition("=")
        project, _, key = new.partition(":")
        if not sep or not old.strip() or not project.strip():
            raise MirrorError(f"--project-map {entry!r}: expected RECORDED=TARGET or RECORDED=TARGET:KEY, such as 42=1")
        result[old.strip()] = (project.strip(), key.strip() or default_key)
    return result


@dataclass(frozen=True, slots=True)
class Options:
    """How to rewrite. ``shift`` is seconds added to every timestamp (None: leave them)."""

    auth: str = "original"
    encoding: str = "original"
    fresh_ids: bool = False
    shift: float | None = None


class IdMap:
    """Old id -> new id, the same for every occurrence across a replay; keeps each id's style
    (32 hex digits or dashed, case)."""

    def __init__(self, factory: Callable[[], str] | None = None) -> None:
        self._factory = factory or _random_uuid4
        self._ids: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def get(self, value: Any) -> Any:
        """The new id for ``value`` in ``value``'s style; anything that is not a UUID unchanged."""
        key = envelope_mod.normalize_uuid(value)
        if key is None:
            return value
        new = self._ids.get(key)
        if new is None:
            new = self._ids[key] = self._factory().replace("-", "").lower()
        if "-" in value:
            new = f"{new[:8]}-{new[8:12]}-{new[12:16]}-{new[16:20]}-{new[20:]}"
        return new.upper() if value.isupper() else new

    def mapping(self) -> dict[str, str]:
        return dict(self._ids)


_random = random.Random(os.urandom(32))
_VERSION_4 = (0xF000 << 64) | (0xC000 << 48)  # the version and variant bits of a UUID


def _random_uuid4() -> str:
    """A random (version 4) UUID as 32 hex digits, from a generator seeded from the OS once
    (``uuid.uuid4`` asks the OS for every id, five times the cost)."""
    return f"{(_random.getrandbits(128) & ~_VERSION_4) | (0x4000 << 64) | (0x8000 << 48):032x}"


# ------------------------------------------------------------------ encoding


def encode(encoding: str | None, data: bytes) -> bytes:
    """``data`` compressed with ``encoding`` (gzip, deflate (zlib-wrapped, as HTTP means), br,
    zstd; None or identity: unchanged), at the levels sentry-python uses (gzip 9, br 4)."""
    if encoding in (None, "identity"):
        return data
    if encoding == "gzip":
        return gzip.compress(data, mtime=0)
    if encoding == "deflate":
        return zlib.compress(data)
    if encoding == "br":
        return brotli.compress(data, quality=4)
    if encoding == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    raise UnsupportedEncoding(f"cannot encode with {encoding!r} (choose from {', '.join(ENCODINGS)})")


# ------------------------------------------------------------------ timestamps


def shift_value(value: Any, seconds: float) -> Any:
    """``value`` moved by ``seconds``: a number (Unix seconds) or an RFC 3339 string, in its own
    style (``Z`` or ``+00:00``, as many fraction digits, an integer stays one). Anything else
    is returned unchanged."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return round(value + seconds)
    if isinstance(value, float):
        return round(value + seconds, 6)
    if isinstance(value, str):
        return _shift_text(value, seconds)
    return value


_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d)?)(\.\d+)?(Z|z|[+-]\d\d:?\d\d)?$")


def _shift_text(text: str, seconds: float) -> str:
    if (
        len(text) == 27 and text[26] == "Z" and text[19] == "." and text[10] in "T " and text[4] == text[7] == "-"
        and text[13] == text[16] == ":" and text.isascii() and text[20:26].isdigit()
    ):  # fmt: skip
        # (the fraction's digits checked here: fromisoformat would read "+01" there as a zone)
        # the style the SDKs write (microseconds, UTC, "Z"): most timestamps of a replay
        try:
            moment = datetime.fromisoformat(text[:26])
        except ValueError:
            pass
        else:
            try:
                return (moment + timedelta(seconds=seconds)).isoformat(text[10], "microseconds") + "Z"
            except OverflowError:  # past year 9999 (or before year 1): left as it is
                return text
    return _shift_styled(text, seconds)


def _shift_styled(text: str, seconds: float) -> str:
    """:func:`_shift_text` for any RFC 3339 style."""
    match = _RFC3339.match(text)
    moment = _parse_match(match)
    if moment is None or match is None:
        return text
    try:
        moment += timedelta(seconds=seconds)
    except OverflowError:  # past year 9999 (or before year 1): left as it is
        return text
    return _format_match(moment, match)


def _parse_text(text: str) -> datetime | None:
    return _parse_match(_RFC3339.match(text))


def _parse_match(match: re.Match[str] | None) -> datetime | None:
    if not match:
        return None
    base, fraction, zone = match.groups()
    try:
        return datetime.fromisoformat(
            base + (fraction[:7] if fraction else "") + ("+00:00" if zone in (None, "Z", "z") else zone)
        )
    except ValueError:
        return None


def _format_match(moment: datetime, match: re.Match[str]) -> str:
    """``moment`` written in the style of the timestamp ``match`` matched: its separator,
    seconds or not, as many fraction digits, its zone (``moment`` already in that zone
    unless it is ``Z`` or none: UTC)."""
    base, fraction, zone = match.groups()
    if zone in (None, "Z", "z"):
        if moment.tzinfo is not UTC:
            moment = moment.astimezone(UTC)
        zone = zone or ""
    m = moment
    digits = len(fraction) - 1 if fraction else 0
    spec = _TIMESPECS.get(digits) if len(base) > 16 else None  # with seconds: isoformat writes it, in C
    if spec is not None:
        return m.replace(tzinfo=None).isoformat(base[10], spec) + zone
    text = f"{m.year:04d}-{m.month:02d}-{m.day:02d}{base[10]}{m.hour:02d}:{m.minute:02d}"
    if len(base) > 16:  # with seconds
        text += f":{m.second:02d}"
    if digits:
        text += f".{m.microsecond:06d}"[: digits + 1] if digits <= 6 else f".{m.microsecond:06d}" + "0" * (digits - 6)
    return text + zone


#: Fraction digits -> the ``isoformat`` timespec that writes as many (it truncates, as the slice does).
_TIMESPECS = {0: "seconds", 3: "milliseconds", 6: "microseconds"}


def format_like(moment: datetime, example: Any) -> Any:
    """``moment`` written as ``example`` is (Unix seconds, or an RFC 3339 string in its style)."""
    if isinstance(example, float):
        return round(moment.timestamp(), 6)
    if isinstance(example, int) and not isinstance(example, bool):
        return int(moment.timestamp())
    match = _RFC3339.match(example) if isinstance(example, str) else None
    old = _parse_match(match)
    if old is None or match is None:
        return format_time_z(moment)
    return _format_match(moment.astimezone(old.tzinfo), match)


def format_time_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


#: Where timestamps are, per item type: top-level keys, and lists of objects whose keys are
#: timestamps (``breadcrumbs`` may also be ``{"values": [...]}``; containers have ``items``).
_EVENT_KEYS = ("timestamp", "start_timestamp", "received")
TIMESTAMP_FIELDS: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, ...]]]] = {
    "event": (_EVENT_KEYS, {"breadcrumbs": ("timestamp",), "spans": ("timestamp", "start_timestamp")}),
    "transaction": (_EVENT_KEYS, {"breadcrumbs": ("timestamp",), "spans": ("timestamp", "start_timestamp")}),
    "feedback": (_EVENT_KEYS, {"breadcrumbs": ("timestamp",)}),
    "session": (("started", "timestamp"), {}),
    "sessions": ((), {"aggregates": ("started",)}),
    "client_report": (("timestamp",), {}),
    "check_in": (("timestamp",), {}),
    "log": ((), {"items": ("timestamp", "observed_timestamp")}),
    "trace_metric": ((), {"items": ("timestamp",)}),
    "span": (
        ("start_timestamp", "timestamp", "end_timestamp"),
        {"items": ("start_timestamp", "end_timestamp", "timestamp")},
    ),
    "profile": (("timestamp",), {}),
    "replay_event": (("timestamp", "replay_start_timestamp"), {}),
}


_JSON_ITEM_TYPES = frozenset(TIMESTAMP_FIELDS) | {"user_report"}


def shift_payload(item_type: str, payload: Any, seconds: float) -> bool:
    """Move the timestamps of one parsed item payload in place; True when any changed."""
    fields = TIMESTAMP_FIELDS.get(item_type)
    if fields is None or not isinstance(payload, dict):
        return False
    top, lists = fields
    changed = _shift_keys(payload, top, seconds)
    for name, keys in lists.items():
        entries = payload.get(name)
        if isinstance(entries, dict):
            entries = entries.get("values")
        if isinstance(entries, list):
            for entry in entries:
                if isinstance(entry, dict):
                    changed |= _shift_keys(entry, keys, seconds)
    return changed


def _shift_keys(obj: dict[str, Any], keys: tuple[str, ...], seconds: float) -> bool:
    changed = False
    for key in keys:
        if key in obj:
            new = shift_value(obj[key], seconds)
            if new != obj[key] or type(new) is not type(obj[key]):
                obj[key] = new
                changed = True
    return changed


# ------------------------------------------------------------------ event ids


def fresh_payload_ids(item_type: str, payload: Any, ids: IdMap) -> bool:
    """Replace event ids (and ids that refer to events, check-ins, sessions, replays) in place."""
    if not isinstance(payload, dict):
        return False
    changed = _map_keys(payload, ("event_id",), ids)
    if item_type == "check_in":
        changed |= _map_keys(payload, ("check_in_id",), ids)
    elif item_type == "session":
        changed |= _map_keys(payload, ("sid",), ids)
    elif item_type == "replay_event":
        changed |= _map_keys(payload, ("replay_id",), ids)
    elif item_type == "profile":
        for name in ("transaction",):
            if isinstance(payload.get(name), dict):
                changed |= _map_keys(payload[name], ("id",), ids)
        for entry in payload.get("transactions") or ():
            if isinstance(entry, dict):
                changed |= _map_keys(entry, ("id",), ids)
    contexts = payload.get("contexts")
    if isinstance(contexts, dict):
        if isinstance(contexts.get("feedback"), dict):
            changed |= _map_keys(contexts["feedback"], ("associated_event_id", "replay_id"), ids)
        if isinstance(contexts.get("replay"), dict):
            changed |= _map_keys(contexts["replay"], ("replay_id",), ids)
    return changed


def _map_keys(obj: dict[str, Any], keys: tuple[str, ...], ids: IdMap) -> bool:
    changed = False
    for key in keys:
        if key in obj:
            new = ids.get(obj[key])
            if new != obj[key]:
                obj[key] = new
                changed = True
    return changed


# ------------------------------------------------------------------ envelopes


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
    changes: list[str] = []
    headers = dict(parsed.headers)
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

    replacements: list[tuple[_Span, bytes]] = []
    if headers != parsed.headers:
        try:
            replacements.append((header_span, orjson.dumps(headers)))
        except orjson.JSONEncodeError:  # nested deeper than JSON output allows: sent as recorded
            changes.append("envelope header kept (too deep to rewrite)")
    payload_changes: set[str] = set()
    for (_, head_span, item_headers, payload_span), item in zip(item_spans, parsed.items, strict=True):
        if (ids is None and shift is None) or item.type not in _JSON_ITEM_TYPES:
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
    changes += sorted(f"payload {c}" for c in payload_changes)

    body = _splice(data, replacements)
    return EnvelopeRewrite(
        body, envelope_mod.normalize_uuid(headers.get("event_id")), parsed.item_types, tuple(changes)
    )


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


def category_of(item_type: str) -> str:
    """The rate-limit data category of an item type (``default`` for unknown ones)."""
    return CATEGORIES.get(item_type, "default")


@functools.lru_cache(maxsize=1024)
def _categories(item_types: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(category_of(t) for t in item_types))


def record_categories(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The rate-limit categories a recorded request carries."""
    if data["endpoint"] in ("envelope", "tunnel"):
        types = [str(item.get("type")) for item in (data.get("summary") or {}).get("items") or ()]
        return tuple(dict.fromkeys(category_of(t) for t in types))
    return (ENDPOINT_CATEGORIES.get(data["endpoint"], "default"),)


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


# ------------------------------------------------------------------ requests


@dataclass(frozen=True, slots=True)
class Prepared:
    """One request ready to send, with what the report needs to know about it."""

    record_id: str
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes  # as it goes on the wire (encoded)
    decoded: bytes  # before Content-Encoding
    encoding: str | None
    endpoint: str
    project_id: str | None
    event_id: str | None  # the (new) event id the target should answer with
    item_types: tuple[str, ...]
    categories: tuple[str, ...]
    recorded_status: int
    changes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "method": self.method,
            "url": self.url,
            "headers": [list(h) for h in self.headers],
            "encoding": self.encoding,
            "wire_size": len(self.body),
            "body_size": len(self.decoded),
            "endpoint": self.endpoint,
            "project_id": self.project_id,
            "event_id": self.event_id,
            "item_types": list(self.item_types),
            "recorded_status": self.recorded_status,
            "changes": list(self.changes),
        }


class NotReplayable(MirrorError):
    """A record that cannot be sent again faithfully (a truncated body, say)."""


_API_PATH = re.compile(r"^/+api/+([^/]+)(/.*)?$")
_SENTRY_KEY = re.compile(r"(sentry_key\s*=\s*)([^,\s]*)", re.IGNORECASE)
_SENTRY_SECRET = re.compile(r"(?<=[ ,])\s*sentry_secret\s*=\s*[^,]*(?:,|$)", re.IGNORECASE)


def _target_path(data: Mapping[str, Any], project: str, key: str) -> str:
    auth = data.get("auth") or {}
    return _path_for(data["path"], data["endpoint"], auth.get("form"), auth.get("public_key"), project, key)


@functools.lru_cache(maxsize=4096)
def _path_for(path: str, endpoint: str, form: str | None, public_key: str | None, project: str, key: str) -> str:
    if endpoint == "tunnel":
        return f"/api/{project}/envelope/"
    match = _API_PATH.match(path)
    if not match or match.group(1) == "store":
        return path
    segments = (match.group(2) or "/").split("/")
    if form == "path" and public_key in segments:
        segments[segments.index(public_key)] = quote(key, safe="")  # unreal/<key>/, cron/<slug>/<key>/
    return f"/api/{project}{'/'.join(segments)}"


@functools.lru_cache(maxsize=1024)
def _sentry_auth_value(value: str, key: str) -> str:
    """An ``X-Sentry-Auth`` (or ``Authorization: Sentry``) value with the target's key and
    without the recorded project's secret (it is not the target's). Recorded values repeat
    (one per SDK and version), so they are rewritten once."""
    value = _SENTRY_KEY.sub(lambda m: m.group(1) + key, value, count=1)
    return _SENTRY_SECRET.sub("", value).rstrip(", ")


@functools.lru_cache(maxsize=256)
def _dsn_text(dsn: Dsn, project: str, key: str) -> str:
    return str(Dsn(dsn.scheme, key, dsn.host, project, dsn.port, dsn.path, dsn.secret))


@functools.lru_cache(maxsize=4096)
def _on_target(url: str, netloc: str) -> bool:
    return urlsplit(url).netloc == netloc


def _sentry_header(key: str, auth: Mapping[str, Any]) -> str:
    parts = [f"sentry_key={key}", f"sentry_version={auth.get('sentry_version') or 7}"]
    if auth.get("sentry_client"):
        parts.append(f"sentry_client={auth['sentry_client']}")
    return "Sentry " + ", ".join(parts)


def rewrite_request(
    data: Mapping[str, Any],
    target: Target,
    options: Options = Options(),
    *,
    ids: IdMap | None = None,
    sent_at: datetime | None = None,
    hold_back: frozenset[str] = frozenset(),
) -> Prepared:
    """Rewrite one snapshot record (its dict) for ``target``.

    ``hold_back``: rate-limited categories whose items are left out of an envelope.

    Raises :class:`NotReplayable` for a record whose body was truncated; a body that did not
    decode is sent as it came (with its original Content-Encoding), untouched."""
    if data.get("body_truncated"):
        raise NotReplayable("only the start of this body was recorded (it was over the size limit)")
    project, key = target.project(data.get("project_id"))
    auth: Mapping[str, Any] = data.get("auth") or {}
    form = auth.get("form")
    wanted = options.auth
    if wanted != "original" and form in (None, "path"):
        wanted = "original"  # no auth stays none; a key in the path is part of the route
    if ids is None and options.fresh_ids:
        ids = IdMap()

    # headers and query
    headers: list[tuple[str, str]] = []
    for name, value in data["headers"]:
        lower = name.lower()
        if lower in _DROPPED_HEADERS:
            continue
        if lower in ("x-sentry-auth", "authorization") and value[:7].lower() == "sentry ":
            if wanted != "original":
                continue
            value = _sentry_auth_value(value, key)
        elif lower == "authorization" and value[:6].lower() == "basic " and form == "basic":
            if wanted != "original":
                continue
            value = "Basic " + base64.b64encode(f"{key}:".encode()).decode("ascii")
        headers.append((name, value))
    recorded_query = data.get("query") or ""
    recorded_pairs = parse_qsl(recorded_query, keep_blank_values=True) if recorded_query else []
    query_pairs = [(k, v) for k, v in recorded_pairs if k != "sentry_secret"]
    if form == "query" or wanted == "query":
        query_pairs = [(k, key if k == "sentry_key" else v) for k, v in query_pairs]
    if wanted != "original" and form == "query":
        query_pairs = [(k, v) for k, v in query_pairs if not k.startswith("sentry_")]
    if wanted == "header":
        headers.append(("X-Sentry-Auth", _sentry_header(key, auth)))
    elif wanted == "query" and form != "query":
        query_pairs += [("sentry_key", key), ("sentry_version", str(auth.get("sentry_version") or 7))]
        if auth.get("sentry_client"):
            query_pairs.append(("sentry_client", auth["sentry_client"]))
    query = urlencode(query_pairs) if query_pairs != recorded_pairs else recorded_query

    # body
    body = decode_bytes(data["body"], data["body_base64"])
    summary = data.get("summary") or {}
    item_types = tuple([str(item.get("type")) for item in summary.get("items") or ()])
    event_id = summary.get("event_id")
    changes: list[str] = []
    shift = options.shift
    if not data.get("body_decoded", True):
        encoding = data.get("content_encoding")
        if encoding:
            headers.append(("Content-Encoding", encoding))
        changes.append("body sent as recorded (it did not decode)")
        wire = body
    elif data.get("body_encoded"):
        # kept compressed in the snapshot (it decodes to more than 32 MiB): rewriting it would
        # cost several times that in memory, so it goes as received, in its own encoding
        encoding = data.get("content_encoding")
        if encoding:
            headers.append(("Content-Encoding", encoding))
        changes.append(f"body sent as recorded (kept compressed, {data.get('body_size')} bytes decoded: not rewritten)")
        wire = body
    else:
        if data["endpoint"] in ("envelope", "tunnel") and body:
            try:
                if hold_back:
                    body, held = drop_items(body, hold_back)
                    if held:
                        changes.append("held back " + "+".join(held))
                result = rewrite_envelope(
                    body,
                    dsn=_dsn_text(target.dsn, project, key),
                    public_key=key,
                    ids=ids if options.fresh_ids else None,
                    shift=shift,
                    sent_at=sent_at if shift is not None else None,
                )
            except EnvelopeError:
                changes.append("body sent as recorded (not an envelope)")
            else:
                body, event_id, item_types = result.body, result.event_id, result.item_types
                changes += result.changes
        elif data["endpoint"] == "store" and data["method"] == "POST":
            body, new_id, store_changes = rewrite_event_json(body, ids=ids if options.fresh_ids else None, shift=shift)
            event_id = new_id or event_id
            changes += store_changes
        if options.encoding == "original":
            try:
                encoding = normalize_encoding(data.get("content_encoding"))
            except UnsupportedEncoding:
                encoding = None
        else:
            encoding = None if options.encoding == "identity" else options.encoding
        wire = encode(encoding, body)
        if encoding:
            headers.append(("Content-Encoding", encoding))

    path = _target_path(data, project, key)
    if not path.startswith("/") or path.startswith("//"):
        path = "/" + path.lstrip("/")  # an absolute-form or odd request target stays a path on the target
    url = target.base_url + path + (f"?{query}" if query else "")
    if not _on_target(url, target.dsn.netloc):
        raise NotReplayable(f"the recorded path {data['path']!r} would leave the target")
    if path != data["path"]:
        changes.insert(0, "path")
    if key != auth.get("public_key") and form:
        changes.insert(0, "key")
    if data["endpoint"] in ("envelope", "tunnel"):
        categories = _categories(item_types)
    else:
        categories = (ENDPOINT_CATEGORIES.get(data["endpoint"], "default"),)
    return Prepared(
        record_id=str(data["id"]),
        method=data["method"],
        url=url,
        headers=tuple(headers),
        body=wire,
        decoded=body,
        encoding=encoding,
        endpoint=data["endpoint"],
        project_id=project,
        event_id=event_id,
        item_types=item_types,
        categories=categories,
        recorded_status=int(data["response"]["status"]),
        changes=tuple(changes),
    )
