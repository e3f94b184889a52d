"""The replay's HTTP/1.1 client (sentry_mirror.io.http1): framing, kept-alive connections,
dropped connections, timeouts and the bound on what it keeps of an answer, against real
servers on 127.0.0.1 (aiohttp's, and raw ones that write answers byte for byte)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sentry_mirror.io import http1
from sentry_mirror.io.http1 import BODY_KEEP, Client, ServerDisconnected

# ------------------------------------------------------------------ against aiohttp

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def aiohttp_target(handler: Handler) -> AsyncIterator[tuple[Client, str, set[Any]]]:
    """An aiohttp server on 127.0.0.1 (port 0) answering every request with ``handler``:
    a client for it, its base URL, and the peer address of every connection it served."""
    peers: set[Any] = set()

    async def serve(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        peers.add(request.transport.get_extra_info("peername"))
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    client = Client("http", "127.0.0.1", port, timeout=3)
    try:
        yield client, f"http://127.0.0.1:{port}", peers
    finally:
        client.close()
        await runner.cleanup()


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response({"path": request.path_qs, "size": len(body)}, headers={"X-Seen": request.method})


async def test_sequential_requests_share_one_kept_alive_connection() -> None:
    async with aiohttp_target(echo) as (client, url, peers):
        answers = [await client.request("POST", f"{url}/api/1/envelope/?n={n}", [], b"x" * n) for n in range(5)]
    assert [200] * 5 == [a.status for a in answers]
    assert [b'{"path": "/api/1/envelope/?n=%d", "size": %d}' % (n, n) for n in range(5)] == [a.body for a in answers]
    assert ("X-Seen", "POST") in answers[0].headers
    assert 1 == len(peers)


async def test_concurrent_requests_open_connections_and_use_them_again() -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.05)
        return await echo(request)

    async with aiohttp_target(slow) as (client, url, peers):
        for _ in range(3):
            answers = await asyncio.gather(*(client.request("POST", f"{url}/", [], b"1") for _ in range(4)))
            assert [200] * 4 == [a.status for a in answers]
    assert 4 == len(peers)  # four in flight at once, then the same four again


async def test_a_chunked_answer_is_read_whole_and_the_connection_kept() -> None:
    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for part in (b'{"id":', b'"abc"', b"}"):
            await response.write(part)
        await response.write_eof()
        return response

    async with aiohttp_target(chunked) as (client, url, peers):
        answers = [await client.request("POST", f"{url}/", [], b"1") for _ in range(2)]
    assert [(200, b'{"id":"abc"}', 12)] * 2 == [(a.status, a.body, a.size) for a in answers]
    assert 1 == len(peers)


@pytest.mark.parametrize("chunked", [False, True])
async def test_an_answer_body_is_kept_up_to_64_kib_and_counted_whole(chunked: bool) -> None:
    size = 200 << 10

    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=400)
        if chunked:
            response.enable_chunked_encoding()
        else:
            response.content_length = size
        await response.prepare(request)
        for n in range(0, size, 1 << 12):
            await response.write(bytes([65 + n // (1 << 12) % 26]) * (1 << 12))
        await response.write_eof()
        return response

    async with aiohttp_target(big) as (client, url, peers):
        first = await client.request("POST", f"{url}/", [], b"1")
        second = await client.request("POST", f"{url}/", [], b"1")
    assert 64 << 10 == BODY_KEEP == len(first.body)
    assert (400, size, size) == (first.status, first.size, second.size)
    assert b"A" * 4096 + b"B" * 4096 == first.body[:8192] and first.body == second.body
    assert 1 == len(peers)  # the rest of the answer was read off the connection, which stays usable


async def test_a_head_request_reads_no_body() -> None:
    async def head(request: web.Request) -> web.Response:
        return web.Response(body=b"seventeen bytes!!")

    async with aiohttp_target(head) as (client, url, peers):
        answers = [await client.request(method, f"{url}/", [], b"") for method in ("HEAD", "GET")]
    assert [(200, b"", 0), (200, b"seventeen bytes!!", 17)] == [(a.status, a.body, a.size) for a in answers]
    assert ("Content-Length", "17") in answers[0].headers
    assert 1 == len(peers)


async def test_a_connection_dropped_mid_answer_is_server_disconnected() -> None:
    async def drop(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = 100
        await response.prepare(request)
        await response.write(b"only ten b")
        assert request.transport is not None
        request.transport.close()
        return response

    async with aiohttp_target(drop) as (client, url, _):
        with pytest.raises(ServerDisconnected):
            await client.request("POST", f"{url}/", [], b"1")


async def test_a_request_past_its_timeout_raises_timeout_error_and_the_client_goes_on() -> None:
    async def maybe_slow(request: web.Request) -> web.Response:
        if request.query.get("slow"):
            await asyncio.sleep(5)
        return web.Response(text="ok")

    async with aiohttp_target(maybe_slow) as (client, url, _):
        client.timeout = 0.3
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TimeoutError):
            await client.request("GET", f"{url}/?slow=1", [], b"")
        assert loop.time() - started < 2.0
        answer = await client.request("GET", f"{url}/", [], b"")
    assert (200, b"ok") == (answer.status, answer.body)


# ------------------------------------------------------------------ the HTTP client


async def raw_server(
    answer: Callable[[int, int, bytes], bytes | None], **options: Any
) -> tuple[asyncio.Server, list[bytes], list[int]]:
    """A server on 127.0.0.1 that reads each request (head and Content-Length body) and
    writes ``answer(connection number, request number on it, request)`` byte for byte;
    None closes the connection without answering."""
    requests: list[bytes] = []
    connections = [0]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections[0] += 1
        number, n = connections[0], 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                request = head + await reader.readexactly(length)
                requests.append(request)
                n += 1
                reply = answer(number, n, request)
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
                if b"Connection: close" in reply or reply.startswith(b"HTTP/1.0"):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, **options)
    return server, requests, connections


ANSWERS = [
    b'HTTP/1.1 200 OK\r\nContent-Length: 9\r\nX-A: 1\r\n\r\n{"id":1}\n',
    b'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\n{"id\r\n3\r\n":2\r\n1\r\n}\r\n0\r\nX-Trailer: t\r\n\r\n',
    b"HTTP/1.1 204 No Content\r\nX-B:  spaced \r\n\r\n",
    b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 60\r\nX-Sentry-Rate-Limits: 60:error:key\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nthe body ends with the connection",
]


async def test_client_reads_every_framing_and_keeps_connections_alive() -> None:
    server, requests, connections = await raw_server(lambda _, n, __: ANSWERS[(n - 1) % len(ANSWERS)])
    port = server.sockets[0].getsockname()[1]
    client = Client("http", "127.0.0.1", port)
    try:
        answers = [
            await client.request(
                "POST",
                f"http://127.0.0.1:{port}/api/5/envelope/?a=1",
                [("X-Sentry-Auth", "Sentry sentry_key=k"), ("Content-Type", "x")],
                b"body",
            )
            for _ in range(6)
        ]
    finally:
        client.close()
        server.close()
        await server.wait_closed()
    assert [
        (200, b'{"id":1}\n'),
        (201, b'{"id":2}'),
        (204, b""),
        (429, b""),
        (200, b"the body ends with the connection"),
        (200, b'{"id":1}\n'),
    ] == [(a[0], a[2]) for a in answers]
    assert ("X-A", "1") in answers[0][1] and ("X-B", "spaced") in answers[2][1]
    assert ("X-Sentry-Rate-Limits", "60:error:key") in answers[3][1]
    assert 2 == connections[0]  # kept alive for four answers, then a new one after the HTTP/1.0 answer closed it
    assert (
        b"POST /api/5/envelope/?a=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Sentry-Auth: Sentry sentry_key=k\r\nContent-Type: x\r\nContent-Length: 4\r\n\r\nbody"
        % port
        == requests[0]
    )


async def test_client_sends_again_once_when_the_server_had_closed_a_kept_connection() -> None:
    """A server may close a kept-alive connection just as a request goes out on it: that
    request is sent once more on a new connection. On a new connection it is an error."""
    server, requests, connections = await raw_server(lambda number, n, _: ANSWERS[0] if number != 1 or n == 1 else None)
    port = server.sockets[0].getsockname()[1]
    client = Client("http", "127.0.0.1", port)
    try:
        first = await client.request("POST", f"http://127.0.0.1:{port}/", [], b"1")
        second = await client.request("POST", f"http://127.0.0.1:{port}/", [], b"2")
    finally:
        client.close()
        server.close()
        await server.wait_closed()
    assert (200, 200, 2, 3) == (first[0], second[0], connections[0], len(requests))

    server, requests, connections = await raw_server(lambda *_: None)
    port = server.sockets[0].getsockname()[1]
    client = Client("http", "127.0.0.1", port)
    try:
        with pytest.raises(ServerDisconnected):
            await client.request("POST", f"http://127.0.0.1:{port}/", [], b"1")
    finally:
        client.close()
        server.close()
        await server.wait_closed()
    assert 1 == len(requests)


@pytest.mark.parametrize("start", [b"", b"HTTP/1.0 200 OK\r\n\r\nthe start of a body that ends with the connection"])
async def test_client_gives_up_on_a_server_that_does_not_finish_its_answer(start: bytes) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)
        writer.write(start)
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = Client("http", "127.0.0.1", port, timeout=0.3)
    try:
        with pytest.raises(TimeoutError):
            await client.request("POST", f"http://127.0.0.1:{port}/", [], b"1")
    finally:
        client.close()
        server.close()


def test_client_refuses_line_breaks_in_headers_and_other_origins() -> None:
    client = Client("http", "127.0.0.1", 9000)
    with pytest.raises(ValueError, match="line break"):
        client.head("POST", "http://127.0.0.1:9000/", [("X-A", "1\r\nX-Injected: 1")], b"")
    with pytest.raises(ValueError, match="not on"):
        client.head("POST", "http://127.0.0.1:90000/", [], b"")


def test_a_kept_request_head_takes_each_body_length_and_is_bounded() -> None:
    """The head built once for repeated headers still carries each request's own
    Content-Length, a refused header is refused every time, and a long head is not kept."""
    client = Client("http", "127.0.0.1", 9000)
    url, headers = "http://127.0.0.1:9000/api/1/envelope/", (("X-Sentry-Auth", "Sentry sentry_key=k"),)
    first, second = client.head("POST", url, headers, b"12"), client.head("POST", url, headers, b"12345")
    assert first.endswith(b"X-Sentry-Auth: Sentry sentry_key=k\r\nContent-Length: 2\r\n\r\n")
    assert second == first.replace(b"Content-Length: 2", b"Content-Length: 5")
    assert client.head("GET", url, headers, b"").endswith(b"sentry_key=k\r\n\r\n")  # no length for a bodiless GET
    for _ in range(2):
        with pytest.raises(ValueError, match="line break"):
            client.head("POST", url, (("X-A", "1\r\nX-Injected: 1"),), b"")
    long = (("X-Long", "x" * (http1.KEPT_HEAD + 1)),)
    assert client.head("POST", url, long, b"1").endswith(b"Content-Length: 1\r\n\r\n")
    assert all(len(head) <= http1.KEPT_HEAD for head in client._heads.values())
    for n in range(http1.HEADS + 10):
        client.head("POST", url, (("X-N", str(n)),), b"")
    assert len(client._heads) <= http1.HEADS


def test_an_answer_head_parsed_again_is_an_equal_new_list_and_long_ones_are_not_kept() -> None:
    raw = bytearray(
        b"HTTP/1.1 429 Too Many Requests\r\nX-Sentry-Rate-Limits: 60:transaction\r\nContent-Length: 0\r\n\r\n"
    )
    end = raw.find(b"\r\n\r\n")
    first, second = http1._head(raw, end), http1._head(raw, end)
    assert (
        first == second == (429, [("X-Sentry-Rate-Limits", "60:transaction"), ("Content-Length", "0")], 0, False, True)
    )
    assert first[1] is not second[1]
    big = bytearray(b"HTTP/1.1 200 OK\r\nX-Big: " + b"y" * http1.KEPT_HEAD + b"\r\n\r\n")
    assert http1._head(big, big.find(b"\r\n\r\n"))[1] == [("X-Big", "y" * http1.KEPT_HEAD)]
    assert bytes(big[: big.find(b"\r\n\r\n")]) not in http1._parsed


def test_header_bytes_go_out_as_they_came() -> None:
    """Headers are recorded latin-1 decoded: the bytes an SDK sent are the bytes sent on
    (a replayed or forwarded request); text no wire carried goes out as UTF-8."""
    client = Client("http", "127.0.0.1", 9000)
    came = b"caf\xe9 \xff".decode("latin-1")
    assert b"X-A: caf\xe9 \xff\r\n" in client.head("POST", "http://127.0.0.1:9000/", [("X-A", came)], b"")
    assert "X-B: \u2603\r\n".encode() in client.head("POST", "http://127.0.0.1:9000/", [("X-B", "\u2603")], b"")


async def test_client_speaks_tls_and_verifies_the_certificate(tmp_path: Any) -> None:
    """An https target: the certificate is verified (an unknown one is a transport error),
    and a trusted one carries the requests on one kept-alive connection."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    server, requests, connections = await raw_server(lambda *_: ANSWERS[0], ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    url = f"https://127.0.0.1:{port}/api/5/envelope/"
    untrusting = Client("https", "127.0.0.1", port)
    trusting = Client("https", "127.0.0.1", port, ssl_context=ssl.create_default_context(cafile=str(cert)))
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            await untrusting.request("POST", url, [], b"1")
        answers = [await trusting.request("POST", url, [("Content-Type", "x")], b"body") for _ in range(3)]
    finally:
        untrusting.close()
        trusting.close()
        await asyncio.sleep(0.1)  # let the server's handler see the connection close
        server.close()
    assert [(200, b'{"id":1}\n')] * 3 == [(a[0], a[2]) for a in answers]
    assert 3 == len(requests) and requests[0].endswith(b"Content-Length: 4\r\n\r\nbody")
    assert 1 == connections[0]  # one connection for all three (the refused handshake never reached the handler)


# ------------------------------------------------------------------ big answers (bounded reading)

BIG = 48 << 20  # CI size; the 2 GB figure is measured by hand (see big_answer_server)


async def big_answer_server(framing: str, size: int) -> asyncio.Server:
    """A server on 127.0.0.1 that answers each request with ``size`` bytes of body, framed by
    Content-Length, as one chunk, as many chunks, or by closing the connection; written in
    1 MiB pieces (with drain), so the server itself holds little."""
    piece = b"x" * (1 << 20)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            await reader.readexactly(length)
            if framing == "length":
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n" % size)
            elif framing == "close":
                writer.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
            else:
                writer.write(b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n")
                if framing == "one-chunk":
                    writer.write(b"%x\r\n" % size)
            sent = 0
            while sent < size:
                part = piece[: min(len(piece), size - sent)]
                writer.write(b"%x\r\n" % len(part) + part + b"\r\n" if framing == "chunks" else part)
                sent += len(part)
                await writer.drain()
            if framing == "one-chunk":
                writer.write(b"\r\n0\r\n\r\n")
            elif framing == "chunks":
                writer.write(b"0\r\n\r\n")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


@pytest.mark.parametrize("framing", ["length", "one-chunk", "chunks", "close"])
async def test_a_huge_answer_is_read_in_bounded_memory(framing: str) -> None:
    """A candidate answering with far more than anyone reads: the client keeps the first
    BODY_KEEP bytes, drops the rest as it streams in, and knows how big the answer was."""
    import tracemalloc

    from sentry_mirror.io.http1 import BODY_KEEP

    server = await big_answer_server(framing, BIG)
    port = server.sockets[0].getsockname()[1]
    client = Client("http", "127.0.0.1", port)
    tracemalloc.start()
    try:
        answer = await client.request("POST", f"http://127.0.0.1:{port}/", [], b"1")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        client.close()
        server.close()
    assert 400 == answer[0]
    assert b"x" * BODY_KEEP == answer[2]
    assert BIG == answer.size
    assert peak < 8 << 20, f"peak {peak / 1e6:.1f} MB while reading a {BIG >> 20} MiB answer"


async def test_an_endless_chunk_size_line_is_an_invalid_answer_not_a_memory_sink() -> None:
    from sentry_mirror.io.http1 import MAX_LINE, InvalidResponse

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(64):
                writer.write(b"f" * MAX_LINE)
                await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    server = await asyncio.start_server(endless, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = Client("http", "127.0.0.1", port)
    try:
        with pytest.raises(InvalidResponse, match="chunked framing"):
            await client.request("POST", f"http://127.0.0.1:{port}/", [], b"1")
    finally:
        client.close()
        server.close()


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nabc",
        b"HTTP/1.1 000 Nothing\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 1000 Too long\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 600 Beyond\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 099 Low\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 101 Switching\r\nContent-Length: 2\r\n\r\n{}",
    ],
)
async def test_an_odd_size_or_status_is_an_invalid_answer_at_once(answer: bytes) -> None:
    """A size that is not plain hex digits (chunked) or plain decimal digits (Content-Length),
    or a status that is not three digits from 100 to 599, is refused as soon as it is read: a
    negative chunk size, or "1000" read as an interim 100, used to leave the request waiting
    for its timeout; "000" is no status to pass on, and a 101 was never asked for."""
    from sentry_mirror.io.http1 import InvalidResponse

    async def odd(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(1)
        writer.write(answer)
        await writer.drain()
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(odd, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = Client("http", "127.0.0.1", port, timeout=3)
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(InvalidResponse):
            await client.request("POST", f"http://127.0.0.1:{port}/", [], b"1")
        assert asyncio.get_running_loop().time() - started < 2
    finally:
        client.close()
        server.close()


# ------------------------------------------------------------------ answers read whole as they arrive


async def test_an_answer_split_at_every_byte_boundary_reads_the_same() -> None:
    """Each answer (every framing) is written in two packets, cut at every byte in turn:
    each reads as it does in one piece, on the same kept-alive connections."""
    cuts = [(answer, cut) for answer in ANSWERS for cut in range(1, len(answer))]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                n = int(head.split(b"/")[1].split(b" ")[0])
                answer, cut = cuts[n]
                writer.write(answer[:cut])
                await writer.drain()
                await asyncio.sleep(0.001)
                writer.write(answer[cut:])
                await writer.drain()
                if answer.startswith(b"HTTP/1.0"):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = Client("http", "127.0.0.1", port)
    try:
        split = [await client.request("GET", f"http://127.0.0.1:{port}/{n}", [], b"") for n in range(len(cuts))]
    finally:
        client.close()
        server.close()
    whole = {answer: await read_whole(answer) for answer in ANSWERS}
    assert [whole[answer] for answer, _ in cuts] == [(a.status, a.headers, a.body, a.size) for a in split]


async def read_whole(answer: bytes) -> tuple[int, list[tuple[str, str]], bytes, int]:
    """``answer`` read by the client from a server writing it in one piece."""
    server, _, _ = await raw_server(lambda *_: answer)
    port = server.sockets[0].getsockname()[1]
    client = Client("http", "127.0.0.1", port)
    try:
        got = await client.request("GET", f"http://127.0.0.1:{port}/", [], b"")
    finally:
        client.close()
        server.close()
    return got.status, got.headers, got.body, got.size


class _Unused(asyncio.Transport):
    """The transport of a connection fed by hand (closing it is all it is asked)."""

    def close(self) -> None:
        pass


async def parsed(pieces: list[bytes], quick: bool, head_request: bool = False) -> tuple[Any, ...]:
    """What a connection makes of an answer arriving in ``pieces`` (then, if it waits for
    more, the end of the connection), read whole as it arrives (``quick``) or by ``response()``."""
    from sentry_mirror.io.http1 import InvalidResponse, _Connection

    connection = _Connection()
    connection.connection_made(_Unused())
    expected = connection.expect(head_request, 100) if quick else None
    for piece in pieces:
        connection.data_received(piece)
    if expected is not None and expected.done() and (whole := expected.result()) is not None:
        return whole.status, whole.headers, whole.body, len(whole.body), whole.keep, bytes(connection.buffer)
    connection.quick = None
    reading = asyncio.ensure_future(connection.response(head_request, 100))
    for _ in range(3):
        await asyncio.sleep(0)
    if not reading.done():
        connection.eof_received()
    try:
        status, headers, body, keep = await reading
    except (InvalidResponse, ServerDisconnected) as exc:
        return (type(exc).__name__,)
    return status, headers, bytes(body.kept), body.size, keep, bytes(connection.buffer)


ANSWER_PARTS = st.lists(
    st.sampled_from(
        [
            b"HTTP/1.1 200 OK\r\n",
            b"HTTP/1.0 204 No Content\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/2 200\r\n",
            b"Content-Length: 2\r\n",
            b"Content-Length: 200\r\n",
            b"Content-Length: -1\r\n",
            b"content-length:0\r\n",
            b"Transfer-Encoding: chunked\r\n",
            b"Connection: close\r\n",
            b"Connection: keep-alive\r\n",
            b" folded\r\n",
            b"X-A: \xff\r\n",
            b"\r\n",
            b"{}",
            b"2\r\nab\r\n0\r\n\r\n",
            b"HTTP/1.1 429 Too Many Requests\r\n",
            "HTTP/1.1 ²²² OK\r\n".encode(),
        ]
    ),
    max_size=10,
)


@settings(max_examples=300, deadline=None)
@example(  # both framings: chunked wins, as response() reads it
    parts=[
        b"HTTP/1.1 200 OK\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Content-Length: 2\r\n",
        b"\r\n",
        b"2\r\nab\r\n0\r\n\r\n",
    ],
    cuts=[],
    head_request=False,
)
@given(parts=ANSWER_PARTS, cuts=st.lists(st.integers(0, 200), max_size=4), head_request=st.booleans())
def test_an_answer_read_whole_as_it_arrives_is_read_as_response_reads_it(
    parts: list[bytes], cuts: list[int], head_request: bool
) -> None:
    """Whatever arrives, in whatever pieces: what the quick path reads whole, and what it
    leaves in the buffer, is what ``response()`` reads; when it declines, ``response()``
    reads it all (and raises what it raises)."""
    data = b"".join(parts)
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    pieces = [data[a:b] for a, b in itertools.pairwise(bounds)]

    async def both() -> None:
        assert await parsed([data], False, head_request) == await parsed(pieces, True, head_request)

    asyncio.run(both())


@pytest.mark.parametrize("size", [200 << 10, 2 << 20])
async def test_a_big_answer_head_is_read_up_to_1_mib_and_refused_past_it(size: int) -> None:
    """A head longer than the quick path waits for is read by ``response()``: whole up to
    1 MiB, an invalid answer past it (not a memory sink)."""
    from sentry_mirror.io.http1 import InvalidResponse

    big = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * size + b"\r\nContent-Length: 2\r\n\r\n{}"
    server, _, _ = await raw_server(lambda *_: big)
    port = server.sockets[0].getsockname()[1]
    client = Client("http", "127.0.0.1", port)
    try:
        if size > 1 << 20:
            with pytest.raises(InvalidResponse, match="over 1 MiB"):
                await client.request("GET", f"http://127.0.0.1:{port}/", [], b"")
        else:
            answer = await client.request("GET", f"http://127.0.0.1:{port}/", [], b"")
            assert (200, b"{}", ("X-Big", "a" * size)) == (answer.status, answer.body, answer.headers[0])
    finally:
        client.close()
        server.close()
