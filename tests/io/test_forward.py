"""Forward mode over real HTTP on 127.0.0.1: a mirror in front of an upstream (aiohttp stubs
and a real Bugsink), its candidates (``--tee``), and what is recorded of each answer."""

from __future__ import annotations

import asyncio
import gzip
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
from sentry_mirror.core.record import decode_bytes
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

    def dsn(self, key: str = UPSTREAM_KEY, project: int = 5) -> str:
        return f"{self.scheme}://{key}@127.0.0.1:{self.port}/{project}"

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        body = await request.read()
        self.received.append((request.method, request.path_qs, dict(request.headers), body))
        if self.delay:
            await asyncio.sleep(self.delay)
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

    async def stop(self) -> None:
        await self.running.stop()
        await self.forwarding.close(1.0)
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


async def test_the_upstreams_answer_reaches_the_sdk_and_both_records_are_on_disk(
    stubs: Callable[..., Awaitable[Stub]], forwarder: Callable[..., Awaitable[Forwarder]]
) -> None:
    """A gzip'd envelope to project 1 with another key: the upstream gets it for its project
    and key, the body byte for byte as sent (not compressed again); the SDK gets the
    upstream's status, headers and body; the request and the answer are recorded."""
    upstream = await stubs(headers={"X-Upstream": "yes", "Connection": "keep-alive"}, body=b'{"id":"from-upstream"}')
    mirror = await forwarder(upstream=upstream.dsn())
    event_id, body = envelope_body()
    wire = gzip.compress(body, compresslevel=1, mtime=1)
    status, headers, answer_body, _ = await post(
        f"{mirror.url}/api/1/envelope/", wire, {**auth("mirror"), "Content-Encoding": "gzip"}
    )
    assert (200, b'{"id":"from-upstream"}', "yes") == (status, answer_body, headers["X-Upstream"])
    [(method, path, sent_headers, sent_body)] = upstream.received
    assert ("POST", "/api/5/envelope/", wire, "gzip") == (method, path, sent_body, sent_headers["Content-Encoding"])
    assert f"sentry_key={UPSTREAM_KEY}" in sent_headers["X-Sentry-Auth"]
    await mirror.stop()
    [request], [answered] = mirror.records()
    assert (event_id, f"http://127.0.0.1:{upstream.port}/5") == (
        request["summary"]["event_id"],
        request["forwarded_to"],
    )
    assert (request["id"], "upstream", "listen", 200, True, True) == (
        answered["request_id"],
        answered["target"],
        answered["via"],
        answered["status"],
        answered["delivered"],
        answered["returned"],
    )
    assert b'{"id":"from-upstream"}' == decode_bytes(answered["body"], answered["body_base64"])
    assert ["X-Upstream", "yes"] in answered["headers"]
    assert UPSTREAM_KEY not in answered["to"]
    assert answered["latency_ms"] is not None and answered["latency_ms"] >= 0
