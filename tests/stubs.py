"""Forward mode's test parts: upstream and candidate stubs (real aiohttp servers on
127.0.0.1) and a forwarding mirror in process, with what they received and recorded."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from sentry_mirror.core import answer
from sentry_mirror.io.forward import ForwardOptions
from sentry_mirror.io.forwarding_app import Forwarding
from sentry_mirror.io.recorder import Recorder
from sentry_mirror.io.server import Running, create_app, serve
from sentry_mirror.io.snapshot import iter_records
from tests.factories import make_envelope

UPSTREAM_KEY = "0123456789abcdef0123456789abcdef"


@dataclass
class Stub:
    """An upstream or candidate on 127.0.0.1: what it received, and how it answers."""

    port: int
    scheme: str = "http"
    received: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    delay: float = 0.0
    peers: set[object] = field(default_factory=set)  # the connections requests came on
    in_flight: int = 0
    most_in_flight: int = 0

    def dsn(self, key: str = UPSTREAM_KEY, project: int = 5) -> str:
        return f"{self.scheme}://{key}@127.0.0.1:{self.port}/{project}"

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        body = await request.read()
        self.received.append((request.method, request.path_qs, dict(request.headers), body))
        self.peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        answer_body = self.body if self.body is not None else orjson.dumps({"id": uuid.uuid4().hex})
        return web.Response(status=self.status, headers=self.headers, body=answer_body)


@pytest.fixture
async def stubs() -> AsyncIterator[Callable[..., Awaitable[Stub]]]:
    """A factory of upstream stubs (real aiohttp servers); ``ssl_context`` makes it HTTPS."""
    runners: list[web.BaseRunner] = []

    async def start(ssl_context: ssl.SSLContext | None = None, **fields: Any) -> Stub:
        stub = Stub(0, "https" if ssl_context else "http", **fields)
        runner = web.ServerRunner(web.Server(stub.handle, auto_decompress=False), handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        runners.append(runner)
        stub.port = runner.addresses[0][1]
        return stub

    yield start
    for runner in runners:
        await runner.cleanup()


@dataclass
class Forwarder:
    """A forwarding mirror: where to send, its forwarding, and what it wrote."""

    running: Running
    recorder: Recorder
    forwarding: Forwarding
    directory: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.running.port}"

    async def stop(self, grace: float = 5.0) -> None:
        await self.running.stop()
        await self.forwarding.close(grace)
        await self.recorder.close()

    def records(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(request records, answer records) on disk."""
        warnings: list[str] = []
        data = [r.data for r in iter_records([self.directory], answers=True, on_warning=warnings.append)]
        assert [] == warnings
        return [d for d in data if not answer.is_answer(d)], [d for d in data if answer.is_answer(d)]


@pytest.fixture
async def forwarder(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Forwarder]]]:
    """A factory: a mirror forwarding as ``ForwardOptions(**options)`` says; stopped after the test."""
    started: list[Forwarder] = []

    async def start(**options: Any) -> Forwarder:
        directory = tmp_path / f"snapshots-{len(started)}"
        recorder = Recorder(directory)
        await recorder.start()
        forwarding = Forwarding(ForwardOptions(**options), recorder)
        running = await serve(create_app(recorder, forwarding=forwarding), "127.0.0.1", 0)
        started.append(Forwarder(running, recorder, forwarding, directory))
        return started[-1]

    yield start
    for mirror in started:
        if mirror.recorder._loop is not None and not mirror.recorder._closing:
            await mirror.stop()


def envelope_body() -> tuple[str, bytes]:
    event_id = uuid.uuid4().hex
    event = {"event_id": event_id, "message": "forwarded", "level": "error"}
    return event_id, make_envelope({"event_id": event_id}, [({"type": "event"}, event)])


def auth(key: str = UPSTREAM_KEY) -> dict[str, str]:
    return {"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7, sentry_client=sentry.python/2.0.0"}


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes, float]:
    started = time.monotonic()
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        async with session.post(url, data=body, headers=headers) as response:
            return response.status, dict(response.headers), await response.read(), time.monotonic() - started


def request_and_answers(mirror: Forwarder) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    [request], answers = mirror.records()
    assert {request["id"]} == {a["request_id"] for a in answers}
    return request, answers


def closed_port_dsn() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://{UPSTREAM_KEY}@127.0.0.1:{port}/5"


async def send_many(url: str, count: int) -> float:
    """Post ``count`` envelopes one after the other; how long it took in all."""
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            async with session.post(f"{url}/api/5/envelope/", data=envelope_body()[1], headers=auth()) as response:
                assert 200 == response.status
                await response.read()
    return time.monotonic() - started


@dataclass
class RawStub:
    """An upstream on 127.0.0.1 answering every request with the same bytes: headers no HTTP
    library would write (a control character in a value, a name that is not a token)."""

    port: int
    answer: bytes
    received: int = 0

    def dsn(self, key: str = UPSTREAM_KEY, project: int = 5) -> str:
        return f"http://{key}@127.0.0.1:{self.port}/{project}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lengths = [
                    line.split(b":", 1)[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ]
                await reader.readexactly(int(lengths[0]) if lengths else 0)
                self.received += 1
                writer.write(self.answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def raw_upstream(answer: bytes) -> AsyncIterator[RawStub]:
    """A :class:`RawStub` answering ``answer`` (a whole HTTP/1.1 answer, its bytes as written)."""
    stub = RawStub(0, answer)
    server = await asyncio.start_server(stub.serve, "127.0.0.1", 0)
    stub.port = server.sockets[0].getsockname()[1]
    try:
        yield stub
    finally:
        server.close()
        await server.wait_closed()
