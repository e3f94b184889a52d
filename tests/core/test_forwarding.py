"""Forward mode's pure decisions: the request for a target (the DSN rewritten everywhere, the
wire body kept when nothing in it changes), ``to`` strings, and what the SDK gets back."""

from __future__ import annotations

import asyncio
import base64
import gzip
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import brotli
import orjson
import pytest
from aiohttp import web
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sentry_mirror.core import answer, envelope, forwarding, ingest
from sentry_mirror.core.auth import parse_dsn
from sentry_mirror.core.forwarding import Reply, destination, prepare
from sentry_mirror.core.replay.rewrite import NotReplayable
from sentry_mirror.errors import MirrorError
from tests.factories import KEY, make_envelope, make_record, make_request

TARGET_KEY = "fedcba9876543210fedcba9876543210"
UPSTREAM = destination(f"https://{TARGET_KEY}:s3cret@sentry.example:8443/prefix/77", "upstream")
MIRROR_DSN = f"http://{KEY}@127.0.0.1:9001/42"


def recorded(
    body: bytes, *, path: str = "/api/42/envelope/", encoding: str | None = None, **kwargs: object
) -> tuple[dict[str, object], bytes]:
    """The listener's record of a request with ``body`` (compressed with ``encoding``), and its wire body."""
    wire = {None: body, "gzip": gzip.compress(body, mtime=3), "br": brotli.compress(body)}[encoding]
    headers = [("X-Sentry-Auth", f"Sentry sentry_key={KEY}, sentry_version=7")]
    if encoding:
        headers.append(("Content-Encoding", encoding))
    request = make_request(path=path, body=wire, headers=kwargs.pop("headers", headers), query=kwargs.pop("query", ""))  # type: ignore[arg-type]
    return make_record(request), wire


def test_an_unchanged_body_goes_byte_exact_in_its_own_encoding() -> None:
    """The common case (the pasted DSN keeps the upstream's key): the gzip bytes as received
    are sent, not decompressed and compressed again; the URL and key name the upstream."""
    entry, wire = recorded(make_envelope({"event_id": "9ec79c33ec9942ab8353589fcb2e04dc"}), encoding="gzip")
    sent = prepare(entry, UPSTREAM, wire)
    assert wire == sent.body
    assert ("Content-Encoding", "gzip") in sent.headers
    assert "https://sentry.example:8443/prefix/api/77/envelope/" == sent.url
    [auth] = [v for k, v in sent.headers if k == "X-Sentry-Auth"]
    assert f"sentry_key={TARGET_KEY}" in auth and "s3cret" not in auth


def test_the_envelope_dsn_and_public_key_are_rewritten_and_the_body_encoded_again() -> None:
    header = {"dsn": MIRROR_DSN, "trace": {"public_key": KEY, "trace_id": "a" * 32}}
    body = make_envelope(header, [({"type": "event"}, {"message": "m"})])
    entry, wire = recorded(body, encoding="br")
    sent = prepare(entry, UPSTREAM, wire)
    assert ("Content-Encoding", "br") in sent.headers
    rewritten = envelope.parse(brotli.decompress(sent.body))
    assert f"https://{TARGET_KEY}:s3cret@sentry.example:8443/prefix/77" == rewritten.headers["dsn"]
    assert TARGET_KEY == rewritten.headers["trace"]["public_key"]
    assert body.split(b"\n", 1)[1] == brotli.decompress(sent.body).split(b"\n", 1)[1]  # items keep their bytes


def test_a_tunnel_request_goes_to_the_upstreams_envelope_endpoint() -> None:
    body = make_envelope({"dsn": MIRROR_DSN}, [({"type": "event"}, {"message": "m"})])
    entry, wire = recorded(body, path="/tunnel", headers=[("Content-Type", "text/plain")])
    assert "tunnel" == entry["endpoint"]
    sent = prepare(entry, UPSTREAM, wire)
    assert "https://sentry.example:8443/prefix/api/77/envelope/" == sent.url
    assert UPSTREAM.to not in envelope.parse(sent.body).headers["dsn"]  # the DSN, with its key
    assert TARGET_KEY in envelope.parse(sent.body).headers["dsn"]


def test_query_auth_gets_the_upstreams_key() -> None:
    entry, wire = recorded(make_envelope(), headers=[], query=f"sentry_key={KEY}&sentry_version=7&sentry_secret=x")
    sent = prepare(entry, UPSTREAM, wire)
    query = dict(parse_qsl(urlsplit(sent.url).query))
    assert {"sentry_key": TARGET_KEY, "sentry_version": "7"} == query
    assert wire == sent.body


def test_basic_auth_gets_the_upstreams_key() -> None:
    basic = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
    entry, wire = recorded(make_envelope(), headers=[("Authorization", basic)])
    sent = prepare(entry, UPSTREAM, wire)
    [value] = [v for k, v in sent.headers if k == "Authorization"]
    assert base64.b64decode(value.split()[1]).decode().startswith(TARGET_KEY)


def test_to_strings_never_hold_the_key_or_secret() -> None:
    assert "https://sentry.example:8443/prefix/77" == UPSTREAM.to
    assert "https://o1.ingest.sentry.io/123" == forwarding.to_string(
        parse_dsn(f"https://{KEY}@o1.ingest.sentry.io/123")
    )
    assert f"http://{TARGET_KEY}@127.0.0.1:9001/77" == forwarding.mirror_dsn(UPSTREAM.dsn, "127.0.0.1:9001")


@pytest.mark.parametrize(
    ("dsn", "to"),
    [
        ("https://k@Sentry.IO:443/1", "https://sentry.io/1"),
        ("http://k@example.com:80/1", "http://example.com/1"),
        ("http://k@example.com:443/1", "http://example.com:443/1"),
        ("https://k@example.com:8443/p/1", "https://example.com:8443/p/1"),
    ],
)
def test_one_server_has_one_to_string(dsn: str, to: str) -> None:
    """The port a scheme implies and the host's case do not make another server (duplicate
    targets and replay --undelivered's "the same server" compare these)."""
    assert to == forwarding.to_string(parse_dsn(dsn))


def test_hop_by_hop_headers_are_not_passed_on() -> None:
    headers = [
        ("Connection", "keep-alive"),
        ("Keep-Alive", "timeout=5"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Length", "3"),
        ("Proxy-Authenticate", "x"),
        ("TE", "trailers"),
        ("Trailer", "x"),
        ("Upgrade", "h2c"),
        ("X-Sentry-Rate-Limits", "60:transaction:organization"),
        ("Retry-After", "60"),
        ("Server", "nginx"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
    ]
    assert headers[8:] == list(forwarding.passed_headers(headers))


LOCAL = ingest.Response(200, (("Content-Type", "application/json"),), b'{"id":"local"}')


@pytest.mark.parametrize(
    ("reply", "mode", "status", "returned"),
    [
        (Reply(200, [("X-A", "1")], b"ok"), "answer", 200, True),
        (Reply(429, [("Retry-After", "60")], b""), "answer", 429, True),
        (Reply(413, [], b"too big"), "pass", 413, True),
        (Reply(503, [], b"busy"), "answer", 200, False),
        (Reply(503, [], b"busy"), "pass", 503, True),
        (Reply(None, error="ConnectionRefusedError"), "answer", 200, False),
        (Reply(None, error="ConnectionRefusedError"), "pass", 502, True),
        (Reply(None, error="no answer within 10 s", timed_out=True), "pass", 504, True),
        (Reply(200, [], b"x", 2 << 20, error="too big"), "pass", 502, True),
        (Reply(200, [], b"x", 2 << 20, error="too big"), "answer", 200, False),
        (Reply(302, [("Location", "https://sentry.example/api/1/envelope/")], b""), "answer", 200, False),
        (Reply(302, [("Location", "https://sentry.example/api/1/envelope/")], b""), "pass", 502, True),
        (Reply(307, [], b""), "pass", 502, True),
        (Reply(101, [], b""), "pass", 502, True),
        (Reply(600, [], b""), "pass", 502, True),
        (Reply(99, [], b""), "answer", 200, False),
    ],
)
def test_what_the_sdk_gets(reply: Reply, mode: str, status: int, returned: bool) -> None:
    response, passed = forwarding.sdk_answer(reply, LOCAL, mode)
    assert (status, returned) == (response.status, passed)
    if not passed:
        assert LOCAL is response
    elif reply.usable:
        assert (reply.body, tuple(reply.headers)) == (response.body, response.headers)
    if status in (502, 504):
        assert ("Access-Control-Allow-Origin", "*") in response.headers  # the browser SDK reads it


def test_the_answer_record_is_one_readers_accept() -> None:
    entry, _ = recorded(make_envelope())
    reply = Reply(429, [("Retry-After", "60")], b"{}", 2, 12.3456)
    data = orjson.loads(
        orjson.dumps(forwarding.answer_record(entry, UPSTREAM, reply, datetime.now(UTC), returned=True))
    )
    assert answer.problem(data) is None
    assert (entry["id"], "upstream", UPSTREAM.to, 429, True, 12.346, ["event"]) == (
        data["request_id"],
        data["target"],
        data["to"],
        data["status"],
        data["delivered"],
        data["latency_ms"],
        data["item_types"],
    )


header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)


@settings(max_examples=150, deadline=None)
@given(
    path=st.one_of(st.text(max_size=40), st.builds(lambda s: "/api/" + s, st.text(max_size=30))),
    query=st.text(max_size=40),
    headers=st.lists(st.tuples(header_text, header_text), max_size=5),
    encoding=st.sampled_from([None, "gzip", "br"]),
)
@example(path="//evil.example/api/1/envelope/", query="", headers=[], encoding=None)
@example(path="http://evil.example/api/1/envelope/", query="", headers=[], encoding=None)
@example(path="/api/1/envelope/@evil.example", query="a=@evil", headers=[("Host", "evil.example")], encoding="gzip")
def test_any_request_goes_to_the_upstream_or_nowhere(
    path: str, query: str, headers: list[tuple[str, str]], encoding: str | None
) -> None:
    """Odd paths, queries and headers never make the rewrite raise (but for NotReplayable), and
    what is sent never leaves the upstream's host and DSN path."""
    entry, wire = recorded(make_envelope(), path=path, query=query, headers=headers, encoding=encoding)
    try:
        sent = prepare(entry, UPSTREAM, wire)
    except NotReplayable:
        return
    assert sent.url.startswith("https://sentry.example:8443/prefix/")
    assert "sentry.example:8443" == urlsplit(sent.url).netloc


def test_a_redirect_says_where_it_pointed_in_one_line() -> None:
    """``pass`` mode's 502 for a redirect names its Location, escaped: a line break in it
    cannot reach the 502's own ``X-Sentry-Error`` header."""
    reply = Reply(301, [("location", "http://sentry.example/\r\nX-Evil: 1")], b"")
    response, _ = forwarding.sdk_answer(reply, LOCAL, "pass")
    assert b"redirected (301 to 'http://sentry.example/\\r\\nX-Evil: 1')" in response.body
    assert all(forwarding.fit(name, value) for name, value in response.headers)
    response, _ = forwarding.sdk_answer(Reply(None, error="refused\nX-Evil: 1"), LOCAL, "pass")
    assert all(forwarding.fit(name, value) for name, value in response.headers)


def test_headers_unfit_to_write_are_not_passed_on() -> None:
    """A name that is not an HTTP token, a value with a control character: left out; a tab,
    non-ASCII text (the upstream's UTF-8) and an empty value are passed."""
    headers = [
        ("X-Bad", "a\nb"),
        ("X-Nul", "a\x00"),
        ("X-Del", "\x7f"),
        ("X Space", "1"),
        ("X:Colon", "1"),
        ("", "empty name"),
        ("X-Ünicode-Name", "1"),
        ("X-Tab", "a\tb"),
        ("X-Text", "café ☕"),
        ("X-Empty", ""),
        ("Retry-After", "60"),
    ]
    assert headers[7:] == list(forwarding.passed_headers(headers))


def test_the_choice_of_headers_is_kept_per_set_and_bounded() -> None:
    """A set of headers seen again gets the same choice; an unfit one is left out every
    time; a long set is not kept, nor more than PASSED sets."""
    headers = [("Connection", "close"), ("X-Bad", "a\nb"), ("Retry-After", "60")]
    for _ in range(2):
        assert forwarding.passed_headers(headers) == (("Retry-After", "60"),)
    long = [("X-Long", "z" * forwarding.PASSED_SIZE)]
    assert forwarding.passed_headers(long) == tuple(long)
    assert tuple(long) not in forwarding._passed
    for n in range(forwarding.PASSED + 10):
        forwarding.passed_headers([("X-N", str(n))])
    assert len(forwarding._passed) <= forwarding.PASSED


header_name = st.one_of(
    st.text(st.sampled_from(sorted(forwarding.TOKEN)), min_size=1, max_size=12),
    st.text(max_size=12),
)
header_value = st.text(st.characters(exclude_categories=()), max_size=20)


@pytest.fixture(scope="module")
def answering_server() -> Iterator[tuple[int, list[tuple[str, str]]]]:
    """A real aiohttp server (in a thread of its own) answering every request with a
    ``web.Response`` holding the headers in the list it shares."""
    headers: list[tuple[str, str]] = []

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        return web.Response(status=200, body=b"ok", headers=headers)

    async def start() -> web.ServerRunner:
        runner = web.ServerRunner(web.Server(handle), handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner

    loop = asyncio.new_event_loop()
    runner = loop.run_until_complete(start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield runner.addresses[0][1], headers
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.run_until_complete(runner.cleanup())
    loop.close()


def _answer_lines(port: int) -> list[bytes]:
    """The status line and header lines the server wrote, as bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data.partition(b"\r\n\r\n")[0].split(b"\r\n")


@settings(max_examples=200, deadline=None)
@given(headers=st.lists(st.tuples(header_name, header_value), max_size=6))
@example(headers=[("X-Bad", "a\nb"), ("X-Ok", "a\tb"), ("Bad Name", "x"), ("X-S", "\ud800")])
def test_whatever_passes_the_filter_aiohttp_writes_as_it_is(
    answering_server: tuple[int, list[tuple[str, str]]], headers: list[tuple[str, str]]
) -> None:
    """The passed headers of any answer are written by aiohttp's ``web.Response`` (no
    "Forbidden control character"), each as one line, byte for byte (UTF-8)."""
    port, served = answering_server
    served[:] = forwarding.passed_headers(headers)
    lines = _answer_lines(port)
    assert lines[0].startswith(b"HTTP/1.1 200 ")
    for name, value in served:
        assert f"{name}: {value}".encode() in lines


@pytest.mark.parametrize("host", ["exa mple.com", "a\x1bb.com", "a,b.com"])
def test_a_host_that_is_no_host_is_refused_at_start(host: str) -> None:
    with pytest.raises(MirrorError, match="is not a host name or address") as caught:
        forwarding.destination(f"http://pub:secret@{host}/1", "upstream")
    assert "secret" not in str(caught.value) and "pub" not in str(caught.value)


@pytest.mark.parametrize("dsn", ["http://k@127.0.0.1:9/1", "https://k@[::1]:8443/1", "https://k@o1.ingest.sentry.io/5"])
def test_hosts_and_addresses_are_taken(dsn: str) -> None:
    assert forwarding.destination(dsn, "upstream").to.endswith(("/1", "/5"))
