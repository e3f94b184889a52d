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
  compressed again) or the one asked for. Given the ``wire`` body (forward mode has it),
  a body that needs no change is sent as it came, in its own encoding, not compressed again.

Everything else is sent as recorded. The body's rewriting is in
:mod:`sentry_mirror.core.replay.envelope_rewrite` (timestamps: :mod:`sentry_mirror.core.replay.timeshift`,
ids: :mod:`sentry_mirror.core.replay.fresh_ids`); an envelope whose payloads need no change keeps
them byte for byte (item headers too).
"""

from __future__ import annotations

import base64
import functools
import gzip
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import brotli
import zstandard

from sentry_mirror.core import bounds
from sentry_mirror.core.auth import Dsn
from sentry_mirror.core.encoding import normalize_encoding
from sentry_mirror.core.envelope import ENVELOPE_ENDPOINTS
from sentry_mirror.core.ratelimits import ENDPOINT_CATEGORIES, categories_of
from sentry_mirror.core.record import decode_bytes
from sentry_mirror.core.replay.envelope_rewrite import drop_items, rewrite_envelope, rewrite_event_json
from sentry_mirror.core.replay.fresh_ids import IdMap
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

# ------------------------------------------------------------------ configuration


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
        compressed: bytes = brotli.compress(data, quality=4)
        return compressed
    if encoding == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    raise UnsupportedEncoding(f"cannot encode with {encoding!r} (choose from {', '.join(ENCODINGS)})")


# ------------------------------------------------------------------ requests


class Prepared(NamedTuple):
    """One request ready to send, with what the report needs to know about it (a named
    tuple: built for every request replayed or forwarded, a third of the cost of a frozen
    dataclass's fourteen ``object.__setattr__``)."""

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
    if form == "path" and public_key is not None and public_key in segments:
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
    wire: bytes | None = None,
) -> Prepared:
    """Rewrite one snapshot record (its dict) for ``target``.

    ``hold_back``: rate-limited categories whose items are left out of an envelope.
    ``wire``: the body as received, sent as it came (its own encoding) when it needs no change.

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
    headers = _headers(data["headers"], key, form, wanted)
    if wanted == "header":
        headers.append(("X-Sentry-Auth", _sentry_header(key, auth)))
    query = _query(data.get("query") or "", key, auth, form, wanted)
    body = _body(data, target, options, project, key, ids, sent_at, hold_back, wire)
    if body.encoding_header:
        headers.append(("Content-Encoding", body.encoding_header))
    url, path = _url(data, target, project, key, query)
    changes = list(body.changes)
    if path != data["path"]:
        changes.insert(0, "path")
    if key != auth.get("public_key") and form:
        changes.insert(0, "key")
    if data["endpoint"] in ENVELOPE_ENDPOINTS:
        categories = categories_of(body.item_types)
    else:
        categories = (ENDPOINT_CATEGORIES.get(data["endpoint"], "default"),)
    return Prepared(
        record_id=str(data["id"]),
        method=data["method"],
        url=url,
        headers=tuple(headers),
        body=body.wire,
        decoded=body.decoded,
        encoding=body.encoding,
        endpoint=data["endpoint"],
        project_id=project,
        event_id=body.event_id,
        item_types=body.item_types,
        categories=categories,
        recorded_status=int(data["response"]["status"]),
        changes=tuple(changes),
    )


def _headers(recorded: Iterable[tuple[str, str]], key: str, form: str | None, wanted: str) -> list[tuple[str, str]]:
    """The recorded headers to send: without the connection's own and the rewritten ones,
    the auth with the target's key (or without it when another form is ``wanted``)."""
    headers: list[tuple[str, str]] = []
    for name, value in recorded:
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
    return headers


def _query(recorded: str, key: str, auth: Mapping[str, Any], form: str | None, wanted: str) -> str:
    """The query string to send: the recorded one (byte for byte when nothing changes)
    without ``sentry_secret``, with the target's key when the auth is (or goes) there."""
    if wanted == "original" and form != "query" and "sentry_" not in recorded and "%" not in recorded:
        return recorded  # no auth in it and none to put there (the common case): nothing to parse
    recorded_pairs = parse_qsl(recorded, keep_blank_values=True) if recorded else []
    query_pairs = [(k, v) for k, v in recorded_pairs if k != "sentry_secret"]
    if form == "query" or wanted == "query":
        query_pairs = [(k, key if k == "sentry_key" else v) for k, v in query_pairs]
    if wanted != "original" and form == "query":
        query_pairs = [(k, v) for k, v in query_pairs if not k.startswith("sentry_")]
    if wanted == "query" and form != "query":
        query_pairs += [("sentry_key", key), ("sentry_version", str(auth.get("sentry_version") or 7))]
        if auth.get("sentry_client"):
            query_pairs.append(("sentry_client", auth["sentry_client"]))
    return urlencode(query_pairs) if query_pairs != recorded_pairs else recorded


class _Body(NamedTuple):
    """A request body as it will be sent, and what the report needs to know about it."""

    wire: bytes
    decoded: bytes
    encoding: str | None  # the encoding applied to ``decoded`` (None: sent as decoded, or as recorded)
    encoding_header: str | None  # the Content-Encoding header to send
    event_id: str | None
    item_types: tuple[str, ...]
    changes: tuple[str, ...]


def _body(
    data: Mapping[str, Any],
    target: Target,
    options: Options,
    project: str,
    key: str,
    ids: IdMap | None,
    sent_at: datetime | None,
    hold_back: frozenset[str],
    wire: bytes | None,
) -> _Body:
    """The body to send: as received when ``wire`` is given and it needs no change; as
    recorded when it did not decode or was kept compressed; otherwise rewritten (an
    envelope or a store event) and encoded as ``options`` asks."""
    body = decode_bytes(data["body"], data["body_base64"])
    summary = data.get("summary") or {}
    item_types = tuple([str(item.get("type")) for item in summary.get("items") or ()])
    event_id = summary.get("event_id")
    recorded_encoding = data.get("content_encoding")
    if wire is not None and _unchanged(data, options, hold_back, _dsn_text(target.dsn, project, key), key):
        return _Body(wire, body, recorded_encoding, recorded_encoding or None, event_id, item_types, ())
    if not data.get("body_decoded", True):
        change = "body sent as recorded (it did not decode)"
        return _Body(body, body, recorded_encoding, recorded_encoding or None, event_id, item_types, (change,))
    if data.get("body_encoded"):
        # kept compressed in the snapshot (it decodes to more than 32 MiB): rewriting it would
        # cost several times that in memory, so it goes as received, in its own encoding
        change = f"body sent as recorded (kept compressed, {data.get('body_size')} bytes decoded: not rewritten)"
        return _Body(body, body, recorded_encoding, recorded_encoding or None, event_id, item_types, (change,))
    changes: list[str] = []
    fresh = ids if options.fresh_ids else None
    if data["endpoint"] in ENVELOPE_ENDPOINTS and body:
        try:
            if hold_back:
                body, held = drop_items(body, hold_back)
                if held:
                    changes.append("held back " + "+".join(held))
            dsn = _dsn_text(target.dsn, project, key)
            sent = sent_at if options.shift is not None else None
            result = rewrite_envelope(body, dsn=dsn, public_key=key, ids=fresh, shift=options.shift, sent_at=sent)
        except EnvelopeError:
            changes.append("body sent as recorded (not an envelope)")
        else:
            body, event_id, item_types = result.body, result.event_id, result.item_types
            changes += result.changes
    elif data["endpoint"] == "store" and data["method"] == "POST":
        body, new_id, store_changes = rewrite_event_json(body, ids=fresh, shift=options.shift)
        event_id = new_id or event_id
        changes += store_changes
    encoding = _send_encoding(options.encoding, recorded_encoding)
    return _Body(encode(encoding, body), body, encoding, encoding, event_id, item_types, tuple(changes))


def _unchanged(data: Mapping[str, Any], options: Options, hold_back: frozenset[str], dsn: str, key: str) -> bool:
    """Whether the body would be sent exactly as it was received (so its wire bytes can go
    as they came): known from the record, without reading the body again."""
    if options.fresh_ids or options.shift is not None or hold_back or options.encoding != "original":
        return False
    if data["endpoint"] not in ENVELOPE_ENDPOINTS or not data.get("body_decoded", True) or data.get("body_encoded"):
        return True  # only an envelope's header names the target (a store body changes with ids and shift only)
    header = (data.get("summary") or {}).get("envelope_header")
    if type(header) is not dict or not bounds.small(header):
        return not data.get("body")  # not in the summary whole (refused early, or cut): the rewrite reads it
    if isinstance(header.get("dsn"), str) and header["dsn"] != dsn:
        return False
    trace = header.get("trace")
    return not (isinstance(trace, dict) and "public_key" in trace and trace["public_key"] != key)


def _send_encoding(wanted: str, recorded: str | None) -> str | None:
    """The Content-Encoding to send with: the recorded one (``original``; None when it is
    not one this can write), none (``identity``), or the one asked for."""
    if wanted == "original":
        try:
            return normalize_encoding(recorded)
        except UnsupportedEncoding:
            return None
    return None if wanted == "identity" else wanted


def _url(data: Mapping[str, Any], target: Target, project: str, key: str, query: str) -> tuple[str, str]:
    """(the URL to send to, its path); :class:`NotReplayable` when it would leave the target."""
    path = _target_path(data, project, key)
    if not path.startswith("/") or path.startswith("//"):
        path = "/" + path.lstrip("/")  # an absolute-form or odd request target stays a path on the target
    url = target.base_url + path + (f"?{query}" if query else "")
    if not _on_target(url, target.dsn.netloc):
        raise NotReplayable(f"the recorded path {data['path']!r} would leave the target")
    return url, path
