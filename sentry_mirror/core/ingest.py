"""What Relay would answer to a request, and what it carried: the mirror's protocol brain.

:func:`handle` takes a :class:`Request` (everything that arrived, the body still as
sent on the wire) and returns an :class:`Outcome`: the response to send, and a summary
of the content (endpoint, auth, envelope header, items, event id). It is pure,
so every protocol rule is tested without a socket, and the server only moves bytes.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import io
import lzma
import re
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl

import orjson
import zstandard

from sentry_mirror.core import bounds, encoding, envelope, leanjson, lenient, multipart
from sentry_mirror.core.auth import Auth, AuthError, Headers, header_index, parse_dsn, request_auth
from sentry_mirror.core.bounds import MAX_HEADER_NODES, MAX_HEADER_STRING, MAX_SUMMARY_ITEMS  # noqa: F401 - re-exported
from sentry_mirror.core.limits import EVENT_LIKE, ITEM_LIMITS, MAX_EVENT_SIZE
from sentry_mirror.core.summary import Facts, envelope_facts, payload_facts
from sentry_mirror.errors import BodyTooLarge, DecodeError, EnvelopeError, MirrorError, UnsupportedEncoding

CORS_HEADERS: tuple[tuple[str, str], ...] = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Expose-Headers", "x-sentry-error, x-sentry-rate-limits, retry-after"),
    ("Vary", "origin, access-control-request-method, access-control-request-headers"),
    ("Cross-Origin-Resource-Policy", "cross-origin"),
)
PREFLIGHT_HEADERS: tuple[tuple[str, str], ...] = (
    ("Access-Control-Allow-Methods", "POST"),
    (
        "Access-Control-Allow-Headers",
        "x-sentry-auth, x-requested-with, x-forwarded-for, origin, referer, accept, content-type, "
        "authentication, authorization, content-encoding, transfer-encoding",
    ),
    ("Access-Control-Max-Age", "3600"),
)
#: The 1x1 transparent GIF Relay answers ``GET /store/`` with.
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")

_SECURITY_TYPES = frozenset(
    {
        "application/json",
        "application/csp-report",
        "application/expect-ct-report",
        "application/expect-ct-report+json",
        "application/expect-staple-report",
        "application/reports+json",
    }
)
_NEL_TYPES = frozenset({"application/json", "application/reports+json"})
_OTLP_TYPES = frozenset({"application/json", "application/x-protobuf"})
_CRON_STATUSES = frozenset({"in_progress", "ok", "error"})


@dataclass(frozen=True, slots=True)
class Config:
    """How the mirror answers. ``keys`` empty means any key is accepted."""

    keys: frozenset[str] = frozenset()
    tunnel_path: str = "/tunnel"
    max_body: int = encoding.DEFAULT_MAX_BODY


# Request, Response and Outcome are made for every request the listener takes, and are not
# changed once made; they are not frozen because a frozen dataclass costs five times as much
# to make (measured: 4% of the listener's CPU per envelope for these three).


@dataclass(slots=True)
class Request:
    """A request as received: ``body`` is the wire body, before Content-Encoding is undone."""

    method: str
    path: str
    query: str = ""
    headers: Headers = ()
    body: bytes = b""
    #: lower-cased name → the first value: each request is asked for several headers
    index: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.index = header_index(self.headers)

    def header(self, name: str) -> str | None:
        return self.index.get(name.lower())

    @property
    def content_type(self) -> str:
        return multipart.content_type_params(self.header("content-type") or "")[0]


@dataclass(slots=True)
class Response:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


@dataclass(slots=True)
class Outcome:
    """The answer to one request and what the mirror understood of it.

    ``body`` is the decoded body when decoding worked (``decoded`` True), else the wire
    body as received, so a record always holds the bytes that explain the answer.
    """

    response: Response
    endpoint: str
    body: bytes
    decoded: bool
    encoding: str | None = None
    project_id: str | None = None
    auth: Auth | None = None
    event_id: str | None = None
    envelope_header: dict[str, Any] | None = None
    items: tuple[dict[str, Any], ...] = ()
    facts: Facts = Facts()  # noqa: RUF009 - frozen, shared safely
    error: str | None = None
    notes: tuple[str, ...] = ()
    items_total: int | None = None  # set when ``items`` lists only the first ones

    @property
    def sdk(self) -> str | None:
        """``name/version`` of the sending SDK, from the envelope header or the auth."""
        sdk = (self.envelope_header or {}).get("sdk")
        if isinstance(sdk, dict) and sdk.get("name"):
            return f"{sdk.get('name')}/{sdk.get('version', '')}".rstrip("/")
        return self.auth.sentry_client if self.auth else None


class _Reject(Exception):
    def __init__(self, status: int, detail: str, causes: tuple[str, ...] = (), *, plain: bool = False) -> None:
        self.status, self.detail, self.causes, self.plain = status, detail, causes, plain


@dataclass(slots=True)
class _State:
    """What a handler learns as it goes; frozen into the Outcome at the end."""

    endpoint: str
    body: bytes
    decoded: bool = False
    encoding: str | None = None
    project_id: str | None = None
    auth: Auth | None = None
    event_id: str | None = None
    envelope_header: dict[str, Any] | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    facts: Facts = Facts()  # noqa: RUF009 - frozen, shared safely
    notes: list[str] = field(default_factory=list)
    items_total: int | None = None


# ---------------------------------------------------------------- routing

_PID = r"(?P<pid>[^/]+)"
_ROUTES: tuple[tuple[str, re.Pattern[str], frozenset[str]], ...] = tuple(
    (name, re.compile(pattern + r"/?$"), frozenset(methods))
    for name, pattern, methods in (
        ("envelope", rf"^/api/{_PID}/envelope", {"POST"}),
        ("store", rf"^/api/{_PID}/store", {"POST", "GET"}),
        ("store", r"^/api/store", {"POST", "GET"}),
        ("security", rf"^/api/{_PID}/(?:security|csp-report)", {"POST"}),
        ("nel", rf"^/api/{_PID}/nel", {"POST"}),
        ("minidump", rf"^/api/{_PID}/minidump", {"POST"}),
        ("unreal", rf"^/api/{_PID}/unreal/(?P<key>[^/]+)", {"POST"}),
        ("attachments", rf"^/api/{_PID}/events/(?P<event_id>[^/]+)/attachments", {"POST"}),
        ("cron", rf"^/api/{_PID}/cron/(?P<slug>[^/]+)(?:/(?P<key>[^/]+))?", {"GET", "POST"}),
        ("otlp", rf"^/api/{_PID}/(?:integration/)?otlp/v1/(?P<signal>traces|logs)", {"POST"}),
    )
)
_SLASHES = re.compile(r"/{2,}")

ENDPOINTS = ("envelope", "store", "security", "nel", "minidump", "unreal", "attachments", "cron", "otlp", "tunnel")


def route(method: str, path: str, tunnel_path: str = "/tunnel") -> tuple[str, Mapping[str, str], frozenset[str]]:
    """(endpoint name, path parameters, allowed methods); endpoint ``unknown`` when none matches."""
    return _route(path, tunnel_path)


_NO_PARAMS: Mapping[str, str] = MappingProxyType({})


@lru_cache(maxsize=1024)  # SDKs post to a handful of paths, over and over
def _route(path: str, tunnel_path: str) -> tuple[str, Mapping[str, str], frozenset[str]]:
    path = _SLASHES.sub("/", path)
    if tunnel_path and path.rstrip("/") == tunnel_path.rstrip("/"):
        return "tunnel", _NO_PARAMS, frozenset({"POST"})
    for name, pattern, methods in _ROUTES:
        match = pattern.match(path)
        if match:
            return name, MappingProxyType({k: v for k, v in match.groupdict().items() if v is not None}), methods
    return "unknown", _NO_PARAMS, frozenset()


# ---------------------------------------------------------------- responses


def json_response(status: int, payload: dict[str, Any], extra: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, (("Content-Type", "application/json"), *extra, *CORS_HEADERS), orjson.dumps(payload))


def error_response(status: int, detail: str, causes: tuple[str, ...] = (), *, plain: bool = False) -> Response:
    """Relay's error shape: ``{"detail": …, "causes": […]}`` plus ``X-Sentry-Error``."""
    sentry_error = (("X-Sentry-Error", detail.encode("ascii", "replace").decode()),)
    if plain:
        return Response(
            status, (("Content-Type", "text/plain; charset=utf-8"), *sentry_error, *CORS_HEADERS), detail.encode()
        )
    payload: dict[str, Any] = {"detail": detail}
    if causes:
        payload["causes"] = list(causes)
    return json_response(status, payload, sentry_error)


def _empty(status: int) -> Response:
    return Response(status, CORS_HEADERS)


def _text(status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> Response:
    return Response(status, (("Content-Type", content_type), *CORS_HEADERS), text.encode())


# ---------------------------------------------------------------- the entry point


def handle(request: Request, config: Config = Config()) -> Outcome:
    """Answer ``request`` as Relay would, and summarise what it carried. Never raises."""
    name, params, methods = route(request.method, request.path, config.tunnel_path)
    state = _State(endpoint=name, body=request.body)
    try:
        response = _dispatch(request, config, state, name, params, methods)
        error = None
    except _Reject as reject:
        response = error_response(reject.status, reject.detail, reject.causes, plain=reject.plain)
        error = "; ".join((reject.detail, *reject.causes))
    return Outcome(
        response=response,
        endpoint=state.endpoint,
        body=state.body,
        decoded=state.decoded,
        encoding=state.encoding,
        project_id=state.project_id,
        auth=state.auth,
        event_id=state.event_id,
        envelope_header=state.envelope_header,
        items=tuple(state.items),
        facts=state.facts,
        error=error,
        notes=tuple(state.notes),
        items_total=state.items_total,
    )


def too_large(request: Request, config: Config, wire_size: int) -> Outcome:
    """The 413 for a body whose wire size alone passes ``config.max_body``.

    ``request.body`` holds only the start of the body, which the record keeps.
    """
    name, params, _ = route(request.method, request.path, config.tunnel_path)
    detail = f"length limit exceeded: the body is over {config.max_body} bytes ({wire_size} bytes or more)"
    return Outcome(
        response=error_response(413, detail, plain=True),
        endpoint=name,
        body=request.body,
        decoded=False,
        project_id=params.get("pid") if params.get("pid", "").isdigit() else None,
        error=detail,
    )


#: Seconds a client is asked to wait (``Retry-After``) when the mirror cannot take a request now.
RETRY_AFTER = 2


def unavailable(detail: str, retry_after: int = RETRY_AFTER) -> Response:
    """A 503 the client should retry after ``retry_after`` seconds (storage or shutdown)."""
    response = error_response(503, detail)
    return Response(503, (("Retry-After", str(retry_after)), *response.headers), response.body)


def cut_short(request: Request, config: Config, wire_size: int, why: str) -> Outcome:
    """The answer to a request whose body did not arrive whole, ``request.body`` holding
    what did: ``why`` is ``timeout`` (408: the client stopped sending), ``shutdown`` (503:
    the listener is stopping; retry) or the framing error that ended it (400)."""
    name, params, _ = route(request.method, request.path, config.tunnel_path)
    if why == "timeout":
        detail = f"request timeout: the body stopped arriving after {wire_size} bytes"
        response = error_response(408, detail, plain=True)
    elif why == "shutdown":
        detail = f"the mirror is shutting down: the body was not complete ({wire_size} bytes received); retry"
        response = unavailable(detail)
    else:
        detail = f"failed to read request body: {why}"
        response = error_response(400, detail, plain=True)
    return Outcome(
        response=response,
        endpoint=name,
        body=request.body,
        decoded=False,
        project_id=params.get("pid") if params.get("pid", "").isdigit() else None,
        error=detail,
    )


def internal_error(request: Request, exc: BaseException) -> Outcome:
    """A 500 for a request the mirror failed to understand (a bug): still answered with
    CORS, and still recorded, body as received, with what went wrong."""
    detail = f"internal error in sentry-mirror: {type(exc).__name__}: {exc}"
    name, params, _ = route(request.method, request.path)
    return Outcome(
        response=error_response(500, detail),
        endpoint=name,
        body=request.body,
        decoded=False,
        project_id=params.get("pid") if params.get("pid", "").isdigit() else None,
        error=detail,
    )


def _dispatch(
    request: Request, config: Config, state: _State, name: str, params: Mapping[str, str], methods: frozenset[str]
) -> Response:
    method = request.method.upper()
    if method == "OPTIONS" and request.header("access-control-request-method") is not None:
        return Response(200, (*PREFLIGHT_HEADERS, *CORS_HEADERS))
    if name == "unknown" or method not in methods:
        try:  # keep a readable body for the record; the answer does not depend on it
            _decode_body(request, config, state)
        except _Reject:
            pass
        if name == "unknown":
            raise _Reject(404, f"not found: {request.path} is not a Sentry ingestion endpoint")
        raise _Reject(
            405, f"method {method} not allowed on the {name} endpoint (allowed: {', '.join(sorted(methods))})"
        )
    if "pid" in params:
        if not params["pid"].isdigit():
            raise _Reject(400, "bad project path parameter")
        state.project_id = params["pid"]
    _decode_body(request, config, state)
    handler = _HANDLERS[name]
    if name != "tunnel":
        _authenticate(request, config, state, params.get("key"), allow_envelope_dsn=name == "envelope")
    return handler(request, config, state, params)


def _decode_body(request: Request, config: Config, state: _State) -> None:
    try:
        state.encoding = encoding.normalize_encoding(request.header("content-encoding"))
        state.body = encoding.decode(state.encoding, request.body, max_size=config.max_body)
    except UnsupportedEncoding as exc:
        raise _Reject(415, str(exc)) from None
    except BodyTooLarge as exc:
        raise _Reject(413, f"length limit exceeded: {exc}", plain=True) from None
    except DecodeError as exc:
        raise _Reject(400, f"failed to read request body: {exc}", plain=True) from None
    state.decoded = True


def _authenticate(
    request: Request, config: Config, state: _State, path_key: str | None, *, allow_envelope_dsn: bool
) -> None:
    try:
        auth = request_auth(request.index, request.query, path_key)
    except AuthError as exc:
        raise _Reject(exc.status, str(exc)) from None
    if auth is None:
        if not allow_envelope_dsn:
            raise _Reject(401, "missing authorization information")
        _require_body(state)  # Relay checks for an empty body before it reads the envelope header
        auth = _envelope_dsn_auth(state.body, state)
    else:
        _check_envelope_dsn(request, state, auth)
    _accept_key(auth, config, state)


def _accept_key(auth: Auth, config: Config, state: _State) -> None:
    state.auth = auth
    if config.keys and _project_key(auth.public_key) not in config.keys:
        raise _Reject(403, "event submission rejected with_reason: ProjectId")


def _project_key(public_key: str) -> str:
    """The key without Relay's flags (``<key>.no-cache`` is the key ``<key>``)."""
    return public_key.partition(".")[0]


def _first_line_json(body: bytes) -> dict[str, Any] | None:
    """The first line parsed, when it is a JSON object (long strings cut: core/leanjson.py)."""
    end = body.find(b"\n")
    try:
        value = leanjson.loads(body, 0, len(body) if end < 0 else end)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _envelope_dsn_auth(body: bytes, state: _State) -> Auth:
    """Authenticate from the envelope header's ``dsn`` (tunnels), as Relay does."""
    headers = _first_line_json(body) or {}
    try:
        dsn = parse_dsn(headers["dsn"])
    except (KeyError, TypeError, AttributeError, MirrorError):
        raise _Reject(401, "bad envelope authentication header") from None
    if state.project_id is None:
        state.project_id = dsn.project_id
    elif dsn.project_id != state.project_id:
        raise _Reject(400, "invalid event envelope", ("project id header mismatch between envelope and request",))
    sdk = headers.get("sdk")
    client = f"{sdk.get('name')}/{sdk.get('version')}" if isinstance(sdk, dict) and sdk.get("name") else None
    return Auth("envelope-dsn", dsn.public_key, sentry_client=client, dsn=headers["dsn"])


def _check_envelope_dsn(request: Request, state: _State, auth: Auth) -> None:
    """With request auth present, an envelope ``dsn`` and ``origin`` must agree (else 400)."""
    if state.endpoint != "envelope":  # before taking the first line: a store body is one line, up to 200 MiB
        return
    end = state.body.find(b"\n")
    stop = len(state.body) if end < 0 else end
    if state.body.find(b'"dsn"', 0, stop) < 0 and state.body.find(b'"origin"', 0, stop) < 0:
        return
    headers = _first_line_json(state.body) or {}
    if isinstance(headers.get("dsn"), str):
        try:
            dsn = parse_dsn(headers["dsn"])
        except MirrorError:
            raise _Reject(400, "invalid event envelope", ("invalid envelope header",)) from None
        if state.project_id is not None and dsn.project_id != state.project_id:
            raise _Reject(400, "invalid event envelope", ("project id header mismatch between envelope and request",))
        if _project_key(dsn.public_key) != _project_key(auth.public_key):
            raise _Reject(400, "invalid event envelope", ("public key header mismatch between envelope and request",))
    origin = headers.get("origin")
    if isinstance(origin, str) and origin != request.header("origin"):
        raise _Reject(400, "invalid event envelope", ("origin header mismatch between envelope and request",))


# ---------------------------------------------------------------- envelopes


def _require_body(state: _State) -> None:
    if not state.body:
        raise _Reject(400, "empty request body")


def _summarise_items(items: tuple[envelope.Item, ...], total: int, state: _State) -> None:
    """The summary's items, bounded (core/bounds.py): ``items`` are the first of ``total``;
    the body keeps them all."""
    cut = False
    for item in items:
        headers, was_cut = bounds.header(item.headers)
        cut = cut or was_cut
        state.items.append({"type": item.type, "size": len(item.payload), "headers": headers})
    if total > len(items):
        state.items_total = total
        state.notes.append(
            f"the summary lists the first {len(items):,} of its {total:,} items: the body holds them all"
        )
    if cut:
        state.notes.append(
            "item header values were cut in the summary (long strings, deep nesting or many keys): the body holds them whole"
        )


def _summarise_header(headers: dict[str, Any] | None, state: _State) -> None:
    if headers is None:
        state.envelope_header = None
        return
    state.envelope_header, cut = bounds.header(headers)
    if cut:
        state.notes.append(
            "envelope header values were cut in the summary (long strings, deep nesting or many keys): the body holds them whole"
        )


class _Tally:
    """One pass over an envelope's items: the first :data:`MAX_SUMMARY_ITEMS` kept, the
    rest counted for Relay's per-envelope limits and dropped (900k empty items held at once
    cost a listener 300 MiB)."""

    def __init__(self) -> None:
        self.kept: list[envelope.Item] = []
        self.total = 0
        self.counts: dict[str, int] = {}
        self.sizes: dict[str, int] = {}
        self.event_like: list[str] = []
        self.first: tuple[int, str] | None = None  # the first internal (400) or oversized event (413) item
        self.needs_event_id = False

    def add(self, item: envelope.Item) -> None:
        self.total += 1
        if len(self.kept) < MAX_SUMMARY_ITEMS:
            self.kept.append(item)
        kind = item.type
        if kind in envelope.INTERNAL_ITEM_TYPES and self.first is None:
            self.first = (400, kind)
        self.needs_event_id = self.needs_event_id or kind in envelope.EVENT_ID_ITEM_TYPES
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.sizes[kind] = self.sizes.get(kind, 0) + len(item.payload)
        if kind in EVENT_LIKE:
            self.event_like.append(kind)
            if len(item.payload) > MAX_EVENT_SIZE and self.first is None:
                self.first = (413, kind)

    def check(self) -> None:
        """Relay's per-envelope size and count limits: 413, the whole envelope rejected."""
        if self.first is not None:
            status, kind = self.first
            if status == 400:
                raise _Reject(400, "envelope contains internal items")
            _too_large(kind)
        if len(self.event_like) > 1:
            _too_large(self.event_like[0])
        for kind, count in self.counts.items():
            limit = ITEM_LIMITS.get(kind)
            if limit is not None and (self.sizes[kind] > limit[0] or count > limit[1]):
                _too_large(kind)


def _too_large(kind: str) -> None:
    raise _Reject(
        413, f"envelope exceeded size limits for type '{kind}' (https://develop.sentry.dev/sdk/envelopes/#size-limits)"
    )


def _envelope(request: Request, config: Config, state: _State, params: Mapping[str, str]) -> Response:
    _require_body(state)
    tally = _Tally()
    try:
        headers, pos = envelope.parse_head(state.body)
        for item in envelope.iter_items(state.body, pos):
            tally.add(item)
    except EnvelopeError as exc:
        _summarise_header(_first_line_json(state.body), state)
        raise _Reject(400, "invalid event envelope", (exc.cause,)) from None
    parsed = envelope.Envelope(headers, tuple(tally.kept))  # the first items only
    _summarise_header(headers, state)
    _summarise_items(parsed.items, tally.total, state)
    # Relay does not validate payloads here (a broken event still gets 200); parsing the
    # first event for its title, level, environment and release is for the readers.
    state.facts = envelope_facts(parsed)
    tally.check()
    state.event_id = parsed.event_id
    if state.event_id is None and tally.needs_event_id:
        state.event_id = uuid.uuid4().hex
        state.notes.append("no event_id in the envelope header: the mirror generated one, as Relay does")
    return json_response(200, {"id": state.event_id} if state.event_id else {})


def _tunnel(request: Request, config: Config, state: _State, params: Mapping[str, str]) -> Response:
    """The browser SDK's ``tunnel`` target: the envelope header's ``dsn`` is the only auth."""
    _require_body(state)
    headers = _first_line_json(state.body)
    if headers is None:
        raise _Reject(400, "invalid envelope: the first line is not a JSON object")
    has_dsn = isinstance(headers.get("dsn"), str)
    del headers  # not held while the envelope is parsed again (a long header is a long string)
    if not has_dsn:
        raise _Reject(400, "invalid envelope: missing DSN")
    auth = _envelope_dsn_auth(state.body, state)
    _accept_key(auth, config, state)
    return _envelope(request, config, state, params)


# ---------------------------------------------------------------- legacy and special endpoints


def store_json(body: bytes) -> bytes | None:
    """The JSON text of a store body, which Relay takes raw, as base64(JSON) or as
    base64(zlib(JSON)); None when it is none of these."""
    data = body.strip()
    if not data.startswith(b"{"):
        try:
            data = base64.b64decode(data, validate=False)
        except (binascii.Error, ValueError):
            return None
        if not data.startswith(b"{"):
            try:
                data = zlib.decompressobj().decompress(data, MAX_EVENT_SIZE + 1)
            except zlib.error:
                return None
    return data


def _store_payload(body: bytes) -> Any:
    """Relay's store body as JSON, or its 400."""
    data = store_json(body)
    if data is None:
        raise _Reject(400, "invalid request body")
    try:
        return lenient.loads(data)
    except ValueError as exc:
        raise _Reject(400, f"invalid JSON data: {exc}") from None


def _store(request: Request, config: Config, state: _State, params: Mapping[str, str]) -> Response:
    if request.method.upper() == "GET":
        data = dict(parse_qsl(request.query)).get("sentry_data")
        if not data:
            raise _Reject(400, "empty request body")
        event = _store_payload(data.encode())
        size = len(data)
    else:
        if request.content_type == "application/x-sentry-envelope":
            return _envelope(request, config, state, params)
        _require_body(state)
        if len(state.body) > MAX_EVENT_SIZE:
            _too_large("event")
        event = _store_payload(state.body)
        size = len(state.body)
    state.items.append({"type": "event", "size": size, "headers": {"type": "event"}})
    state.facts = payload_facts("event", event)
    state.event_id = envelope.normalize_uuid(event.get("event_id") if isinstance(event, dict) else None)
    if state.event_id is None:
        state.event_id = uuid.uuid4().hex
    if request.method.upper() == "GET":
        return Response(200, (("Content-Type", "image/gif"), *CORS_HEADERS), PIXEL_GIF)
    return json_response(200, {"id": state.event_id})


def _security(request: Request, config: Config, state: _State, params: Mapping[str, str]) -> Response:
    if request.content_type not in _SECURITY_TYPES:
        raise _Reject(415, f"unsupported Content-Type {request.content_type!r} for a security report")
    _require_body(state)
    if len(state.body) > MAX_EVENT_SIZE:
        _too_large("raw_security")
    state.items.append({"type": "raw_security", "size": len(state.body), "headers": {"type": "raw_security"}})
    try:
        state.facts = payload_facts("event", orjson.loads(state.body))
    except orjson.JSONDecodeError:
        state.notes.append("the report is not JSON: Relay accepts it and drops it later")
    return _empty(200)


def _nel(request: Request, config: Config, state: _State, params: Mapping[str, str]) -> Response:
    if request.content_type not in _NEL_TYPES:
        raise _Reject(415, f"unsupported Content-Type {request.content_type!r} for a NEL report")
    _require_body(state)
    state.items.append({"type": "nel", "size": len(state.body), "headers": {"type": "nel"}})
    return _empty(200)


def _head_gzip(data: bytes) -> bytes:
    return zlib.decompressobj(31).decompress(data, 4)


def _head_zstd(data: bytes) -> bytes:
    return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read(4)


def _head_xz(data: bytes) -> bytes:
    return lzma.LZMADecompressor().decompress(data, max_length=4)


def _head_bz2(data: bytes) -> bytes:
    return bz2.BZ2Decompressor().decompress(data, max_length=4)


#: Compression containers Relay unpacks a minidump from, by magic bytes. Only the dump's
#: first bytes are decoded (to check its MDMP magic): a container bomb costs nothing.
_CONTAINERS: tuple[tuple[bytes, Callable[[bytes], bytes]], ...] = (
    (b"\x1f\x8b", _head_gzip),
    (b"\x28\xb5\x2f\xfd", _head_zstd),
    (b"\xfd7zXZ\x00", _head_xz),
    (b"BZh", _head_bz2),
)


def _dump_magic(data: bytes) -> bytes:
    """The first bytes of the minidump in ``data``, unpacking a compression container."""
    for magic, head in _CONTAINERS:
        if data.startswith(magic):
            try:
                return head(data)
            except (zlib.error, zstandard.ZstdError, lzma.LZMAError, OSError, ValueError, EOFError):
                raise _Reject(400, "invalid compression container") from None
    return data[:4]


def _attachment_summary(part: multipart.Part, attachment_type: str) -> dict[str, Any]:
    headers = {"type": "attachment", "attachment_type": attachment_type, "filename": part.filename or part.name}
    if part.content_type:
        headers["content_type"] = part.content_type
    return {"type": "attachment", "size": len(part.data), "headers": headers}


def _multipart(request: Request, state: _State) -> list[multipart.Part]:
    try:
        return multipart.parse(state.body, request.header("content-type") or "")
    except multipart.MultipartError as exc:
        raise _Reject(400, str(exc)) from None


def _crash_event_id(state: _State) -> str:
    state.event_id = uuid.uuid4().hex
    return str(uuid.UUID(state.event_id))


def _minidump(request: Request, config: Config, state: _State, params: Mapping[str, str]) -> Response:
    if request.content_type in ("application/octet-stream", "application/x-dmp"):
        dump = multipart.Part("upload_file_minidump", "minidump.dmp", request.content_type, state.body)
        parts = [dump]
    else:
        parts = _multipart(request, state)
        found = [p for p in parts if p.name == "upload_file_minidump"]
        if not found:
            raise _Reject(400, "missing minidump")
        dump = found[0]
    if _dump_magic(dump.data) not in (b"MDMP", b"PMDM"):
        raise _Reject(400, "invalid minidump")
    for part in parts:
        if part is dump:
            state.items.append(_attachment_summary(part, "event.minidump"))
        elif part.filename is not None:
            state.items.append(_attachment_summary(part, "event.attachment"))
        else:
            state.items.append(
                {"type": "form_data", "size": len(part.data), "headers": {"type": "form_data", "name": part.name}}
            )
    state.facts = Facts("minidump")
    return _text(200, _crash_event_id(state))


def _unreal(request: Request, config: Config, state: _State, params: Mapping[str, str]) -> Response:
    _require_body(state)
    state.items.append({"type": "unreal_report", "size": len(state.body), "headers": {"type": "unreal_report"}})
    state.facts = Facts("unreal crash report")
    return _text(200, _crash_event_id(state))


def _attachments(request: Request, config: Config, state: _State, params: Mapping[str, str]) -> Response:
    event_id = envelope.normalize_uuid(params["event_id"])
    if event_id is None:
        raise _Reject(400, "invalid event id")
    state.event_id = event_id
    for part in _multipart(request, state):
        state.items.append(_attachment_summary(part, "event.attachment"))
    return _empty(201)


def _cron(request: Request, config: Config, state: _State, params: Mapping[str, str]) -> Response:
    if request.content_type == "application/json" and request.method.upper() == "POST":
        try:
            check_in = orjson.loads(state.body)
        except orjson.JSONDecodeError as exc:
            raise _Reject(400, f"invalid JSON data: {exc}") from None
        if not isinstance(check_in, dict):
            raise _Reject(400, "invalid JSON data: expected an object")
    else:
        check_in = {k: v for k, v in parse_qsl(request.query) if not k.startswith("sentry_")}
    status = check_in.get("status")
    if not isinstance(status, str) or status not in _CRON_STATUSES:
        raise _Reject(400, f"invalid check-in status {status!r} (expected in_progress, ok or error)")
    state.items.append({"type": "check_in", "size": len(state.body), "headers": {"type": "check_in"}})
    state.facts = payload_facts("check_in", {"monitor_slug": params["slug"], **check_in})
    return _empty(202)


def _otlp(request: Request, config: Config, state: _State, params: Mapping[str, str]) -> Response:
    if request.content_type not in _OTLP_TYPES:
        raise _Reject(415, f"unsupported Content-Type {request.content_type!r} for OTLP")
    kind = "otlp_" + params["signal"]
    state.items.append(
        {"type": kind, "size": len(state.body), "headers": {"type": kind, "content_type": request.content_type}}
    )
    return _empty(202)


_HANDLERS: dict[str, Callable[[Request, Config, _State, dict[str, str]], Response]] = {
    "envelope": _envelope,
    "tunnel": _tunnel,
    "store": _store,
    "security": _security,
    "nel": _nel,
    "minidump": _minidump,
    "unreal": _unreal,
    "attachments": _attachments,
    "cron": _cron,
    "otlp": _otlp,
}
