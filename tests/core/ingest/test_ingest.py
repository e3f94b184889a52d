"""What the mirror answers and records, case by case, against Relay's conformance checklist.

Each row of ``CASES`` is one request and everything expected of :func:`ingest.handle`:
the status, the response body (Relay's ``{"detail", "causes"}`` for errors), and what the
Outcome records. Row ids start with the checklist number (``c01`` … ``c48``) when the
case comes from it; ``mirror-…`` rows are the mirror's own behaviour. The deliberate
differences from Relay (any key accepted, paths without a trailing slash, the tunnel
endpoint) are marked in the row ids.
"""

from __future__ import annotations

import base64
import gzip
import re
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import brotli
import orjson
import pytest
import zstandard
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sentry_mirror.core import record
from sentry_mirror.core.ingest import PIXEL_GIF, PREFLIGHT_HEADERS, Config, Outcome, Request, handle
from tests.factories import (
    DSN,
    ENVELOPE_PATH,
    EVENT_ID,
    KEY,
    OTHER_KEY,
    QUERY_AUTH,
    make_envelope,
    make_event,
    make_multipart,
    make_request,
)

#: Stands for an event id the mirror generates (32 lower-case hex digits, not EVENT_ID).
GENERATED = "<generated>"
#: Stands for the generated event id as a hyphenated UUID (crash endpoints' text answer).
HYPHENATED = "<hyphenated>"

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
MIB = 1024 * 1024

H = b'{"event_id":"' + EVENT_ID.encode() + b'"}'
EVENT = orjson.dumps(make_event())
ENVELOPE = make_envelope()
STORE_PATH = "/api/42/store/"
SIZE_LIMIT = "envelope exceeded size limits for type '{}' (https://develop.sentry.dev/sdk/envelopes/#size-limits)"


def invalid(cause: str) -> dict[str, Any]:
    return {"detail": "invalid event envelope", "causes": [cause]}


def detail(text: str) -> dict[str, Any]:
    return {"detail": text}


def items_of(*types: str) -> bytes:
    """An envelope with header H and one empty-object item per type (explicit lengths)."""
    return make_envelope(items=[({"type": t}, b"{}") for t in types])


@dataclass(frozen=True)
class Case:
    """One request and what is expected of it; defaults describe a good envelope with query auth."""

    request: Request
    status: int = 200
    response: dict[str, Any] | bytes | None = field(default_factory=lambda: {"id": EVENT_ID})
    content_type: str | None = JSON
    endpoint: str = "envelope"
    project_id: str | None = "42"
    auth: tuple[str, str] | None = ("query", KEY)
    event_id: str | None = EVENT_ID
    items: tuple[str, ...] = ("event",)
    body: bytes | None = None  # the recorded body; None means the request body as sent
    decoded: bool = True
    error: str | None = None
    config: Config = field(default_factory=Config)


def ok(body: bytes, **expected: Any) -> Case:
    """A request to the envelope endpoint with query auth that Relay answers 200."""
    return Case(make_request(body=body), **expected)


def rejected(request: Request, status: int, response: dict[str, Any], **expected: Any) -> Case:
    """A request answered with Relay's JSON error; nothing is summarised unless told."""
    error = "; ".join((response["detail"], *response.get("causes", ())))
    expected = {"event_id": None, "items": (), **expected}
    return Case(request, status=status, response=response, error=error, **expected)


def plain(request: Request, status: int, text: str, **expected: Any) -> Case:
    """A request answered with a plain-text error (the HTTP framework's, in Relay)."""
    expected = {"event_id": None, "items": (), "auth": None, "decoded": False, **expected}
    return Case(request, status=status, response=text.encode(), content_type=TEXT, error=text, **expected)


def multipart_request(path: str, *parts: tuple[str, str | None, bytes], query: str = f"sentry_key={KEY}") -> Request:
    body, content_type = make_multipart(*parts)
    return make_request(path=path, body=body, query=query, headers=[("Content-Type", content_type)])


MINIDUMP = b"MDMP\x93\xa7\x00\x00" + bytes(range(256))
GZIP_ENVELOPE = gzip.compress(ENVELOPE, mtime=0)
BOMB = gzip.compress(bytes(2 * MIB), mtime=0)
CSP_REPORT = orjson.dumps(
    {
        "csp-report": {
            "document-uri": "https://a.example/",
            "violated-directive": "script-src",
            "blocked-uri": "https://evil.example/x.js",
        }
    }
)
STORE_GET_QUERY = "sentry_data=" + EVENT.decode() + f"&sentry_key={KEY}&sentry_version=7"

CASES = [
    # -- 3.1 byte grammar ----------------------------------------------------------------
    pytest.param(ok(H + b'\n{"type":"event","length":2}\n{}\n'), id="c01-minimal-envelope"),
    pytest.param(ok(H + b'\n{"type":"event","length":2}\n{}'), id="c02-no-final-newline"),
    pytest.param(ok(H + b'\n{"type":"event"}\n{}\n'), id="c03-implicit-length"),
    pytest.param(ok(H + b'\n{"type":"event"}\n{}'), id="c03-implicit-length-at-eof"),
    pytest.param(
        ok(H + b'\n{"type":"attachment","length":5}\na\nb\r\n\n', items=("attachment",)), id="c04-embedded-newlines"
    ),
    pytest.param(
        ok(make_envelope(items=[({"type": "attachment"}, b"\x00\xff\x00\n\xfe")]), items=("attachment",)),
        id="c05-binary-attachment",
    ),
    pytest.param(
        rejected(
            make_request(body=H + b'\n{"type":"attachment","length":10}\nabc'), 400, invalid("unexpected end of file")
        ),
        id="c06-length-past-end",
    ),
    pytest.param(
        rejected(
            make_request(body=H + b'\n{"type":"attachment","length":2}\nabc\n'),
            400,
            invalid("missing newline after header or payload"),
        ),
        id="c07-length-one-short",
    ),
    pytest.param(
        rejected(
            make_request(body=H + b'\r\n{"type":"event"}\n{}'), 400, invalid("missing newline after header or payload")
        ),
        id="c08-header-crlf",
    ),
    pytest.param(
        rejected(
            make_request(body=H + b' \n{"type":"event"}\n{}'), 400, invalid("missing newline after header or payload")
        ),
        id="c09-header-trailing-space",
    ),
    pytest.param(
        ok(
            H + b'\n{"type":"attachment","length":0}\n\n{"type":"attachment","length":0}\n\n',
            items=("attachment", "attachment"),
        ),
        id="c10-empty-attachments-final-newline",
    ),
    pytest.param(
        ok(
            H + b'\n{"type":"attachment","length":0}\n\n{"type":"attachment","length":0}\n',
            items=("attachment", "attachment"),
        ),
        id="c10-empty-attachments-no-final-newline",
    ),
    pytest.param(ok(b"{}", response={}, event_id=None, items=()), id="c11-header-only"),
    pytest.param(rejected(make_request(body=b""), 400, detail("empty request body")), id="c12-empty-body"),
    pytest.param(
        rejected(make_request(body=b'hello\n{"type":"event"}\n{}'), 400, invalid("invalid envelope header")),
        id="c13-header-not-json",
    ),
    pytest.param(
        rejected(make_request(body=H + b'\n{"type":"event",\n{}'), 400, invalid("invalid item header")),
        id="c14-item-header-not-json",
    ),
    pytest.param(ok(items_of("foo_bar"), items=("foo_bar",)), id="c15-unknown-item-type"),
    pytest.param(
        rejected(
            make_request(body=items_of("integration")),
            400,
            detail("envelope contains internal items"),
            items=("integration",),
        ),
        id="c16-internal-item",
    ),
    pytest.param(ok(H + b'\n{"type":"event"}\n{not json}'), id="c17-event-not-json"),
    pytest.param(
        rejected(
            make_request(path=STORE_PATH, body=b"{not json}"),
            400,
            detail("invalid JSON data: unexpected character, expected a string key: line 1 column 2 (char 1)"),
            endpoint="store",
        ),
        id="c17-store-not-json",
    ),
    pytest.param(
        ok(make_envelope(headers={}), response={"id": GENERATED}, event_id=GENERATED), id="c18-no-event-id-generated"
    ),
    pytest.param(
        rejected(
            make_request(body=make_envelope(headers={"event_id": "xyz"})), 400, invalid("invalid envelope header")
        ),
        id="c19-invalid-event-id",
    ),
    pytest.param(
        rejected(
            make_request(body=b'{"sent_at":"2026-05-01T10:00:00Z","sent_at":"2026-05-01T10:00:01Z"}\n'),
            400,
            invalid("invalid envelope header"),
        ),
        id="c20-duplicate-sent-at",
    ),
    # -- 2 authentication -----------------------------------------------------------------
    pytest.param(
        rejected(make_request(query=""), 401, detail("bad envelope authentication header"), auth=None),
        id="c21-no-auth-envelope",
    ),
    pytest.param(
        rejected(
            make_request(path=STORE_PATH, query="", body=EVENT),
            401,
            detail("missing authorization information"),
            endpoint="store",
            auth=None,
        ),
        id="c21-no-auth-store",
    ),
    pytest.param(
        rejected(make_request(query="", body=b""), 400, detail("empty request body"), auth=None),
        id="c21-no-auth-empty-body",
    ),
    pytest.param(
        Case(
            make_request(query="", body=make_envelope(headers={"event_id": EVENT_ID, "dsn": DSN})),
            auth=("envelope-dsn", KEY),
        ),
        id="c22-envelope-dsn-only",
    ),
    pytest.param(
        rejected(
            make_request(headers=[("X-Sentry-Auth", f"Sentry sentry_key={KEY}, sentry_version=7")]),
            401,
            detail("multiple authorization payloads detected"),
            auth=None,
        ),
        id="c23-header-and-query",
    ),
    pytest.param(
        Case(
            make_request(query="", headers=[("Authorization", f"Sentry sentry_key={KEY}")]), auth=("authorization", KEY)
        ),
        id="c24-authorization-sentry",
    ),
    pytest.param(
        Case(
            make_request(
                query="", headers=[("Authorization", "Basic " + base64.b64encode(f"{KEY}:".encode()).decode())]
            ),
            auth=("basic", KEY),
        ),
        id="c24-authorization-basic",
    ),
    pytest.param(
        Case(
            make_request(query="foo=1", headers=[("X-Sentry-Auth", f"Sentry sentry_key={KEY}")]),
            auth=("x-sentry-auth", KEY),
        ),
        id="c25-query-without-sentry-ignored",
    ),
    pytest.param(
        rejected(
            make_request(query="", headers=[("X-Sentry-Auth", "Sentry sentry_version=7")]),
            401,
            detail("bad x-sentry-auth header"),
            auth=None,
        ),
        id="c26-x-sentry-auth-without-key",
    ),
    pytest.param(
        # Relay's get_auth_header only reads a value that starts with "Sentry ", so a
        # Bearer value is no auth at all (the checklist's "bad x-sentry-auth header" is
        # not what auth_from_parts does).
        rejected(
            make_request(query="", headers=[("X-Sentry-Auth", "Bearer abc")]),
            401,
            detail("bad envelope authentication header"),
            auth=None,
        ),
        id="c26-x-sentry-auth-bearer-ignored",
    ),
    pytest.param(
        Case(make_request(headers=[("X-Sentry-Auth", "Bearer abc")])),
        id="c26-x-sentry-auth-bearer-with-query",
    ),
    pytest.param(
        rejected(
            make_request(query=f"sentry_key={KEY}&sentry_version=8"),
            400,
            detail("unsupported protocol version (8)"),
            auth=None,
        ),
        id="c27-version-8",
    ),
    pytest.param(Case(make_request(query=f"sentry_key={KEY}&sentry_version=7.0")), id="c27-version-7.0"),
    pytest.param(Case(make_request(query=f"sentry_key={KEY}")), id="c27-version-missing"),
    pytest.param(
        Case(make_request(query="sentry_key=short&sentry_version=7"), auth=("query", "short")),
        id="c28-mirror-accepts-any-key-length",
    ),
    pytest.param(
        Case(
            make_request(query=f"sentry_key={KEY}.no-cache&sentry_version=7"),
            auth=("query", f"{KEY}.no-cache"),
            config=Config(keys=frozenset({KEY})),
        ),
        id="c28-key-with-no-cache-flag",
    ),
    pytest.param(
        Case(
            make_request(
                query=f"sentry_key={KEY}.no-cache&sentry_version=7",
                body=make_envelope(headers={"event_id": EVENT_ID, "dsn": DSN}),
            ),
            auth=("query", f"{KEY}.no-cache"),
        ),
        id="c28-no-cache-flag-matches-envelope-dsn",
    ),
    pytest.param(
        rejected(
            make_request(body=make_envelope(headers={"dsn": f"https://{KEY}@o1.ingest.sentry.io/99"})),
            400,
            invalid("project id header mismatch between envelope and request"),
            auth=None,
        ),
        id="c29-dsn-project-mismatch",
    ),
    pytest.param(
        rejected(
            make_request(body=make_envelope(headers={"dsn": f"https://{OTHER_KEY}@o1.ingest.sentry.io/42"})),
            400,
            invalid("public key header mismatch between envelope and request"),
            auth=None,
        ),
        id="c29-dsn-key-mismatch",
    ),
    pytest.param(
        Case(
            make_request(
                body=make_envelope(headers={"event_id": EVENT_ID, "dsn": f"https://{KEY}@tunnel.example:8443/42"})
            )
        ),
        id="c29-dsn-other-host",
    ),
    pytest.param(
        rejected(
            make_request(headers=[("Origin", "http://b/")], body=make_envelope(headers={"origin": "http://a/"})),
            400,
            invalid("origin header mismatch between envelope and request"),
            auth=None,
        ),
        id="c30-origin-mismatch",
    ),
    pytest.param(
        rejected(
            make_request(),
            403,
            detail("event submission rejected with_reason: ProjectId"),
            config=Config(keys=frozenset({OTHER_KEY})),
        ),
        id="c31-mirror-key-not-allowed",
    ),
    # -- 1 routing --------------------------------------------------------------------------
    pytest.param(
        rejected(
            make_request(path="/api/abc/envelope/"),
            400,
            detail("bad project path parameter"),
            project_id=None,
            auth=None,
            decoded=False,
        ),
        id="c32-project-id-not-numeric",
    ),
    pytest.param(Case(make_request(path="/api/42/envelope")), id="c33-mirror-no-trailing-slash"),
    pytest.param(Case(make_request(path="//api//42//envelope//")), id="c34-repeated-slashes"),
    pytest.param(
        rejected(
            make_request(method="GET", body=b""),
            405,
            detail("method GET not allowed on the envelope endpoint (allowed: POST)"),
            project_id=None,
            auth=None,
        ),
        id="c35-get-envelope",
    ),
    pytest.param(
        Case(
            make_request(
                method="OPTIONS",
                body=b"",
                query="",
                headers=[("Origin", "http://a.example"), ("Access-Control-Request-Method", "POST")],
            ),
            response=b"",
            content_type=None,
            project_id=None,
            auth=None,
            event_id=None,
            items=(),
            decoded=False,
        ),
        id="c35-preflight",
    ),
    # -- 4.1 Content-Encoding ------------------------------------------------------------
    *(
        pytest.param(
            Case(make_request(headers=[("Content-Encoding", name)], body=compress(ENVELOPE)), body=ENVELOPE),
            id=f"c36-content-encoding-{name}",
        )
        for name, compress in (
            ("gzip", lambda data: gzip.compress(data, mtime=0)),
            ("x-gzip", lambda data: gzip.compress(data, mtime=0)),
            ("deflate", zlib.compress),
            ("br", brotli.compress),
            ("zstd", zstandard.ZstdCompressor().compress),
        )
    ),
    pytest.param(
        plain(
            make_request(headers=[("Content-Encoding", "gzip")]),
            400,
            "failed to read request body: body does not decode as gzip: "
            "Error -3 while decompressing data: incorrect header check",
        ),
        id="c37-gzip-declared-plain-body",
    ),
    pytest.param(
        rejected(make_request(body=GZIP_ENVELOPE), 400, invalid("invalid envelope header")),
        id="c37-gzip-body-undeclared",
    ),
    pytest.param(Case(make_request(headers=[("Content-Encoding", "")])), id="c38-content-encoding-empty"),
    pytest.param(Case(make_request(headers=[("Content-Encoding", "UTF-8")])), id="c38-content-encoding-utf-8"),
    pytest.param(
        rejected(
            make_request(headers=[("Content-Encoding", "lz4")]),
            415,
            detail("unsupported Content-Encoding 'lz4' (accepted: gzip, deflate, br, zstd)"),
            auth=None,
            decoded=False,
        ),
        id="c38-content-encoding-lz4",
    ),
    pytest.param(
        plain(
            make_request(headers=[("Content-Encoding", "gzip")], body=BOMB),
            413,
            "length limit exceeded: gzip body decodes to more than the 1048576-byte limit",
            config=Config(max_body=MIB),
        ),
        id="c39-gzip-bomb-over-max-body",
    ),
    # -- 4.5 size limits --------------------------------------------------------------------
    pytest.param(
        rejected(
            make_request(body=make_envelope(items=[({"type": "event"}, b"x" * (MIB + 1))])),
            413,
            detail(SIZE_LIMIT.format("event")),
            items=("event",),
        ),
        id="c40-event-over-1-mib",
    ),
    pytest.param(ok(make_envelope(items=[({"type": "event"}, b"x" * MIB)])), id="c40-event-of-1-mib"),
    *(
        pytest.param(
            rejected(make_request(body=items_of(*types)), 413, detail(SIZE_LIMIT.format("event")), items=types),
            id=f"c41-{'-and-'.join(types)}",
        )
        for types in (("event", "event"), ("event", "transaction"), ("event", "replay_event"))
    ),
    pytest.param(
        rejected(
            make_request(body=items_of(*["attachment"] * 31)),
            413,
            detail(SIZE_LIMIT.format("attachment")),
            items=("attachment",) * 31,
        ),
        id="c42-31-attachments",
    ),
    pytest.param(ok(items_of(*["attachment"] * 30), items=("attachment",) * 30), id="c42-30-attachments"),
    pytest.param(
        rejected(
            make_request(body=make_envelope(items=[({"type": "check_in"}, b"x" * (100 * 1024 + 1))])),
            413,
            detail(SIZE_LIMIT.format("check_in")),
            items=("check_in",),
        ),
        id="c42-check-in-over-100-kib",
    ),
    pytest.param(
        rejected(
            make_request(body=items_of(*["session"] * 101)),
            413,
            detail(SIZE_LIMIT.format("session")),
            items=("session",) * 101,
        ),
        id="c42-101-sessions",
    ),
    pytest.param(
        ok(make_envelope(items=[({"type": "log", "item_count": 3}, b'{"items":[{"body":"one"}]}')]), items=("log",)),
        id="c43-log-item-count-mismatch",
    ),
    # -- 4.2 Content-Type -----------------------------------------------------------------
    *(
        pytest.param(
            Case(make_request(headers=[("Content-Type", value)])), id=f"c44-content-type-{value.split(';')[0]}"
        )
        for value in ("text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "application/x-sentry-envelope")
    ),
    # -- other endpoints ------------------------------------------------------------------
    pytest.param(
        Case(
            make_request(path=STORE_PATH, method="GET", body=b"", query=STORE_GET_QUERY),
            response=PIXEL_GIF,
            content_type="image/gif",
            endpoint="store",
        ),
        id="c45-store-get",
    ),
    pytest.param(
        Case(make_request(path=STORE_PATH, body=base64.b64encode(zlib.compress(EVENT))), endpoint="store"),
        id="c45-store-post-base64-zlib",
    ),
    pytest.param(
        Case(make_request(path="/api/store/", body=EVENT), endpoint="store", project_id=None),
        id="c45-store-without-project-id",
    ),
    pytest.param(
        Case(
            make_request(path=STORE_PATH, headers=[("Content-Type", "application/x-sentry-envelope")]),
            endpoint="store",
        ),
        id="c45-store-envelope-content-type",
    ),
    pytest.param(
        Case(
            make_request(
                path="/api/42/security/",
                query=f"sentry_key={KEY}",
                headers=[("Content-Type", "application/csp-report")],
                body=CSP_REPORT,
            ),
            response=b"",
            content_type=None,
            endpoint="security",
            event_id=None,
            items=("raw_security",),
        ),
        id="c46-security-csp-report",
    ),
    pytest.param(
        rejected(
            make_request(
                path="/api/42/security/",
                query=f"sentry_key={KEY}",
                headers=[("Content-Type", "text/plain")],
                body=CSP_REPORT,
            ),
            415,
            detail("unsupported Content-Type 'text/plain' for a security report"),
            endpoint="security",
        ),
        id="c46-security-text-plain",
    ),
    pytest.param(
        rejected(
            multipart_request("/api/42/minidump/", ("sentry", None, b'{"release":"app@1.0"}')),
            400,
            detail("missing minidump"),
            endpoint="minidump",
        ),
        id="c47-minidump-multipart-missing",
    ),
    pytest.param(
        rejected(
            multipart_request("/api/42/minidump/", ("upload_file_minidump", "crash.dmp", b"NOT A DUMP")),
            400,
            detail("invalid minidump"),
            endpoint="minidump",
        ),
        id="c47-minidump-multipart-not-mdmp",
    ),
    pytest.param(
        Case(
            multipart_request(
                "/api/42/minidump/",
                ("upload_file_minidump", "crash.dmp", MINIDUMP),
                ("sentry", None, b'{"release":"app@1.0"}'),
                ("log", "app.log", b"line\n"),
            ),
            response=HYPHENATED,
            content_type=TEXT,
            endpoint="minidump",
            event_id=GENERATED,
            items=("attachment", "form_data", "attachment"),
        ),
        id="c47-minidump-multipart",
    ),
    pytest.param(
        Case(
            make_request(
                path="/api/42/minidump",
                query=f"sentry_key={KEY}",
                headers=[("Content-Type", "application/x-dmp")],
                body=MINIDUMP,
            ),
            response=HYPHENATED,
            content_type=TEXT,
            endpoint="minidump",
            event_id=GENERATED,
            items=("attachment",),
        ),
        id="c47-minidump-raw",
    ),
    pytest.param(
        Case(
            make_request(
                path="/api/42/minidump/",
                query=f"sentry_key={KEY}",
                headers=[("Content-Type", "application/octet-stream")],
                body=gzip.compress(MINIDUMP, mtime=0),
            ),
            response=HYPHENATED,
            content_type=TEXT,
            endpoint="minidump",
            event_id=GENERATED,
            items=("attachment",),
        ),
        id="c47-minidump-raw-gzip-container",
    ),
    pytest.param(
        rejected(
            make_request(
                path="/api/42/minidump/",
                query=f"sentry_key={KEY}",
                headers=[("Content-Type", "application/octet-stream")],
                body=b"PK\x03\x04",
            ),
            400,
            detail("invalid minidump"),
            endpoint="minidump",
        ),
        id="c47-minidump-raw-not-mdmp",
    ),
    pytest.param(
        Case(
            make_request(path=f"/api/42/cron/my-job/{KEY}", method="GET", body=b"", query="status=ok"),
            status=202,
            response=b"",
            content_type=None,
            endpoint="cron",
            auth=("path", KEY),
            event_id=None,
            items=("check_in",),
        ),
        id="c48-cron-get-ok",
    ),
    pytest.param(
        rejected(
            make_request(path=f"/api/42/cron/my-job/{KEY}", method="GET", body=b"", query="status=done"),
            400,
            detail("invalid check-in status 'done' (expected in_progress, ok or error)"),
            endpoint="cron",
            auth=("path", KEY),
        ),
        id="c48-cron-get-bad-status",
    ),
    # -- the mirror's own -----------------------------------------------------------------
    pytest.param(
        Case(
            make_request(path="/tunnel", query="", body=make_envelope(headers={"event_id": EVENT_ID, "dsn": DSN})),
            endpoint="tunnel",
            auth=("envelope-dsn", KEY),
        ),
        id="mirror-tunnel-with-dsn",
    ),
    pytest.param(
        Case(
            make_request(
                path="/tunnel",
                query="",
                body=make_envelope(headers={"event_id": EVENT_ID, "dsn": f"https://{KEY}@o1.ingest.sentry.io/7"}),
            ),
            endpoint="tunnel",
            project_id="7",
            auth=("envelope-dsn", KEY),
        ),
        id="mirror-tunnel-project-from-dsn",
    ),
    pytest.param(
        rejected(
            make_request(path="/tunnel", query=""),
            400,
            detail("invalid envelope: missing DSN"),
            endpoint="tunnel",
            project_id=None,
            auth=None,
        ),
        id="mirror-tunnel-without-dsn",
    ),
    pytest.param(
        rejected(
            make_request(path="/tunnel", query="", body=make_envelope(headers={"event_id": EVENT_ID, "dsn": DSN})),
            403,
            detail("event submission rejected with_reason: ProjectId"),
            endpoint="tunnel",
            auth=("envelope-dsn", KEY),
            config=Config(keys=frozenset({OTHER_KEY})),
        ),
        id="mirror-tunnel-key-not-allowed",
    ),
    pytest.param(
        rejected(
            make_request(path="/api/0/projects/", body=b'{"name":"x"}'),
            404,
            detail("not found: /api/0/projects/ is not a Sentry ingestion endpoint"),
            endpoint="unknown",
            project_id=None,
            auth=None,
        ),
        id="mirror-unknown-path-captured",
    ),
    pytest.param(
        Case(make_request(), config=Config(keys=frozenset({KEY}))),
        id="mirror-key-allowed",
    ),
    pytest.param(
        Case(
            make_request(
                path="/api/42/integration/otlp/v1/traces",
                headers=[("Content-Type", "application/json")],
                body=b'{"resourceSpans":[]}',
            ),
            status=202,
            response=b"",
            content_type=None,
            endpoint="otlp",
            event_id=None,
            items=("otlp_traces",),
        ),
        id="mirror-otlp-json",
    ),
    pytest.param(
        rejected(
            make_request(path="/api/42/otlp/v1/logs", headers=[("Content-Type", "text/plain")], body=b"{}"),
            415,
            detail("unsupported Content-Type 'text/plain' for OTLP"),
            endpoint="otlp",
        ),
        id="mirror-otlp-text-plain",
    ),
    pytest.param(
        Case(
            multipart_request(
                f"/api/42/events/{EVENT_ID}/attachments/", ("file", "hello.txt", b"hello\r\n"), query=QUERY_AUTH
            ),
            status=201,
            response=b"",
            content_type=None,
            endpoint="attachments",
            items=("attachment",),
        ),
        id="mirror-attachments-multipart",
    ),
    pytest.param(
        Case(
            make_request(
                path="/api/42/nel/",
                headers=[("Content-Type", "application/reports+json")],
                body=b'[{"type":"network-error"}]',
            ),
            response=b"",
            content_type=None,
            endpoint="nel",
            event_id=None,
            items=("nel",),
        ),
        id="mirror-nel",
    ),
    pytest.param(
        Case(
            make_request(path=f"/api/42/unreal/{KEY}/", query="", body=b"CR1\x00crash"),
            response=HYPHENATED,
            content_type=TEXT,
            endpoint="unreal",
            auth=("path", KEY),
            event_id=GENERATED,
            items=("unreal_report",),
        ),
        id="mirror-unreal",
    ),
    pytest.param(
        ok(make_envelope(items=[({"type": "feedback"}, b'{"contexts":["not","an","object"]}')]), items=("feedback",)),
        id="mirror-feedback-contexts-not-an-object",
    ),
]


def _expected_body(case: Case, event_id: str | None) -> bytes | dict[str, Any] | None:
    if case.response == HYPHENATED:
        return str(uuid.UUID(event_id)).encode()
    if isinstance(case.response, dict):
        return {k: event_id if v == GENERATED else v for k, v in case.response.items()}
    return case.response


def _actual_body(outcome: Outcome) -> bytes | dict[str, Any]:
    if dict(outcome.response.headers).get("Content-Type") == JSON:
        return orjson.loads(outcome.response.body)
    return outcome.response.body


@pytest.mark.parametrize("case", CASES)
def test_protocol_case(case: Case) -> None:
    """The mirror answers each checklist request as Relay does and records what it carried."""
    outcome = handle(case.request, case.config)
    event_id = case.event_id
    if event_id == GENERATED:
        assert re.fullmatch("[0-9a-f]{32}", outcome.event_id or "") and outcome.event_id != EVENT_ID
        event_id = outcome.event_id
    headers = dict(outcome.response.headers)
    expected = {
        "status": case.status,
        "content_type": case.content_type,
        "allow_origin": "*",
        "response": _expected_body(case, event_id),
        "endpoint": case.endpoint,
        "project_id": case.project_id,
        "auth": case.auth,
        "event_id": event_id,
        "items": case.items,
        "body": case.request.body if case.body is None else case.body,
        "decoded": case.decoded,
        "error": case.error,
    }

    actual = {
        "status": outcome.response.status,
        "content_type": headers.get("Content-Type"),
        "allow_origin": headers.get("Access-Control-Allow-Origin"),
        "response": _actual_body(outcome),
        "endpoint": outcome.endpoint,
        "project_id": outcome.project_id,
        "auth": (outcome.auth.form, outcome.auth.public_key) if outcome.auth else None,
        "event_id": outcome.event_id,
        "items": tuple(item["type"] for item in outcome.items),
        "body": outcome.body,
        "decoded": outcome.decoded,
        "error": outcome.error,
    }
    assert expected == actual


def test_error_carries_x_sentry_error() -> None:
    """An error answer repeats its detail in X-Sentry-Error, which CORS exposes."""
    outcome = handle(make_request(body=b""))

    assert ("X-Sentry-Error", "empty request body") in outcome.response.headers


def test_preflight_headers() -> None:
    """A CORS preflight gets Relay's allow list, max-age and the plain CORS headers, and no body."""
    request = make_request(method="OPTIONS", body=b"", query="", headers=[("Access-Control-Request-Method", "POST")])

    response = handle(request).response

    assert dict(PREFLIGHT_HEADERS) == {k: v for k, v in response.headers if k in dict(PREFLIGHT_HEADERS)}
    assert ("POST", "3600", "*", b"") == (
        dict(response.headers)["Access-Control-Allow-Methods"],
        dict(response.headers)["Access-Control-Max-Age"],
        dict(response.headers)["Access-Control-Allow-Origin"],
        response.body,
    )


def test_compressed_body_recorded_decoded() -> None:
    """A compressed body is recorded decoded, with the codec it came in."""
    outcome = handle(make_request(headers=[("Content-Encoding", "br")], body=brotli.compress(ENVELOPE)))

    assert (ENVELOPE, True, "br") == (outcome.body, outcome.decoded, outcome.encoding)


def test_envelope_summary() -> None:
    """The outcome keeps the envelope header, each item's header and size, and the SDK."""
    attachment = b"\xef\xbb\xbfHello\r\n"
    body = make_envelope(
        headers={"event_id": EVENT_ID, "sdk": {"name": "sentry.python", "version": "2.19.0"}},
        items=[({"type": "event"}, EVENT), ({"type": "attachment", "filename": "hello.txt"}, attachment)],
    )

    outcome = handle(make_request(body=body))

    assert (
        {"event_id": EVENT_ID, "sdk": {"name": "sentry.python", "version": "2.19.0"}},
        (
            {"type": "event", "size": len(EVENT), "headers": {"type": "event", "length": len(EVENT)}},
            {
                "type": "attachment",
                "size": 10,
                "headers": {"type": "attachment", "filename": "hello.txt", "length": 10},
            },
        ),
        "sentry.python/2.19.0",
    ) == (outcome.envelope_header, outcome.items, outcome.sdk)


@settings(max_examples=300, deadline=None)
@given(
    path=st.sampled_from(
        [ENVELOPE_PATH, STORE_PATH, "/api/42/minidump/", "/api/42/security/", "/api/42/cron/x/", "/tunnel"]
    ),
    encoding=st.sampled_from(["", "gzip", "deflate", "br", "zstd"]),
    body=st.binary(max_size=300),
)
@example(path=ENVELOPE_PATH, encoding="gzip", body=gzip.compress(b"", mtime=0) * 3000)
@example(path=ENVELOPE_PATH, encoding="", body=b'{"a":' + b"[" * 1000 + b"]" * 1000 + b"}")
@example(
    path=ENVELOPE_PATH,
    encoding="",
    body=make_envelope(items=[({"type": "feedback"}, b'{"contexts":{"feedback":{"message":5}}}')]),
)
@example(path=ENVELOPE_PATH, encoding="", body=b'{"x":123456789012345678901234567890}\n{"type":"x"}\n{}')
@example(path="/api/42/cron/x/", encoding="", body=b'{"status":[]}')
@example(path=STORE_PATH, encoding="", body=b"[" * 5000 + b"]" * 5000)
def test_handle_never_raises(path: str, encoding: str, body: bytes) -> None:
    """Whatever arrives, handle answers with a status (it never raises), and its record
    can be written as JSON."""
    request = make_request(
        path=path, body=body, headers=[("Content-Encoding", encoding), ("Content-Type", "application/json")]
    )

    outcome = handle(request)
    line = record.dumps(record.build(request, outcome, received_at=datetime.now(UTC), remote_addr=None))

    assert outcome.response.status in {200, 202, 400, 401, 403, 404, 405, 413, 415}
    assert outcome.body == record.Record(orjson.loads(line)).body


@pytest.mark.parametrize("path", ["/api/1/store/", "/api/1/security/"])
def test_a_big_one_line_body_that_is_no_envelope_is_not_copied_for_an_envelope_check(path: str) -> None:
    """A gzip store body that decodes to 198 MiB ending in a newline was copied whole (its
    "first line") to look for an envelope ``dsn``: 200 MB more at the listener's peak."""
    import tracemalloc

    body = b'{"message": "' + b"A" * (16 << 20) + b'"}\n'
    request = Request("POST", path, "sentry_key=k", (("Content-Type", "application/json"),), body)
    tracemalloc.start()
    try:
        outcome = handle(request)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 413 == outcome.response.status
    assert peak < len(body) // 4
