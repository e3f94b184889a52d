"""Forward mode over real HTTP on 127.0.0.1: a mirror in front of an upstream (aiohttp stubs
and a real Bugsink), its candidates (``--tee``), and what is recorded of each answer."""

from __future__ import annotations

import asyncio
import gzip
import os
import ssl
import sys
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


def request_and_answers(mirror: Forwarder) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    [request], answers = mirror.records()
    assert {request["id"]} == {a["request_id"] for a in answers}
    return request, answers


async def test_a_rate_limit_reaches_the_sdk_exactly(
    stubs: Callable[..., Awaitable[Stub]], forwarder: Callable[..., Awaitable[Forwarder]]
) -> None:
    """A 429 with X-Sentry-Rate-Limits and Retry-After is the upstream's verdict: passed through
    as it came, in either failure mode, and recorded as delivered (the upstream took the request)."""
    limits = {"X-Sentry-Rate-Limits": "60:transaction:organization", "Retry-After": "60"}
    upstream = await stubs(status=429, headers=limits, body=b"")
    mirror = await forwarder(upstream=upstream.dsn())
    status, headers, body, _ = await post(f"{mirror.url}/api/5/envelope/", envelope_body()[1], auth())
    assert (429, b"") == (status, body)
    assert limits == {k: headers[k] for k in limits}
    await mirror.stop()
    _, [answered] = request_and_answers(mirror)
    assert (429, True, True) == (answered["status"], answered["delivered"], answered["returned"])
    assert [["X-Sentry-Rate-Limits", "60:transaction:organization"], ["Retry-After", "60"]] == [
        h for h in answered["headers"] if h[0] in limits
    ]


def closed_port_dsn() -> str:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://{UPSTREAM_KEY}@127.0.0.1:{port}/5"


@pytest.mark.parametrize(("mode", "expected"), [("answer", 200), ("pass", 502)])
async def test_an_upstream_that_is_down(
    forwarder: Callable[..., Awaitable[Forwarder]], mode: str, expected: int
) -> None:
    """Nothing listens upstream: ``answer`` gives the SDK the mirror's own 200 (the request is
    on disk), ``pass`` a 502; either way the request is recorded as forwarded and undelivered."""
    mirror = await forwarder(upstream=closed_port_dsn(), failure=mode)
    event_id, body = envelope_body()
    status, _, answer_body, _ = await post(f"{mirror.url}/api/5/envelope/", body, auth())
    assert expected == status
    if mode == "answer":
        assert {"id": event_id} == orjson.loads(answer_body)
    else:
        assert b"the upstream could not be reached" in answer_body
    await mirror.stop()
    request, [answered] = request_and_answers(mirror)
    assert request["forwarded_to"] == answered["to"]
    assert (None, False, mode == "pass") == (answered["status"], answered["delivered"], answered["returned"])
    assert "ConnectionRefusedError" in answered["error"]
    assert [(0, 1)] == [(t.delivered, t.undelivered) for t in mirror.forwarding.tallies]


async def test_a_timeout_is_a_504_in_pass_mode(
    stubs: Callable[..., Awaitable[Stub]], forwarder: Callable[..., Awaitable[Forwarder]]
) -> None:
    upstream = await stubs(delay=3.0)
    mirror = await forwarder(upstream=upstream.dsn(), failure="pass", timeout=0.3)
    status, _, body, elapsed = await post(f"{mirror.url}/api/5/envelope/", envelope_body()[1], auth())
    assert (504, True) == (status, b"did not answer in time" in body)
    assert elapsed < 2.5
    await mirror.stop()
    _, [answered] = request_and_answers(mirror)
    assert (None, False, True) == (answered["status"], answered["delivered"], answered["returned"])
    assert "no answer within 0.3 s" == answered["error"]
    assert answered["latency_ms"] >= 300


@pytest.mark.parametrize("mode", ["answer", "pass"])
async def test_a_5xx_is_undelivered_and_passed_on_only_in_pass_mode(
    stubs: Callable[..., Awaitable[Stub]], forwarder: Callable[..., Awaitable[Forwarder]], mode: str
) -> None:
    upstream = await stubs(status=503, headers={"Retry-After": "7"}, body=b"busy")
    mirror = await forwarder(upstream=upstream.dsn(), failure=mode)
    event_id, body = envelope_body()
    status, headers, answer_body, _ = await post(f"{mirror.url}/api/5/envelope/", body, auth())
    if mode == "pass":
        assert (503, "7", b"busy") == (status, headers["Retry-After"], answer_body)
    else:
        assert (200, {"id": event_id}) == (status, orjson.loads(answer_body))
    await mirror.stop()
    _, [answered] = request_and_answers(mirror)
    assert (503, False, mode == "pass") == (answered["status"], answered["delivered"], answered["returned"])


async def test_an_answer_too_big_to_pass_on_is_a_502_not_a_cut_body(
    stubs: Callable[..., Awaitable[Stub]], forwarder: Callable[..., Awaitable[Forwarder]]
) -> None:
    from sentry_mirror.core.forwarding import ANSWER_CAP

    upstream = await stubs(body=b"x" * (ANSWER_CAP + 10))
    mirror = await forwarder(upstream=upstream.dsn(), failure="pass")
    status, _, body, _ = await post(f"{mirror.url}/api/5/envelope/", envelope_body()[1], auth())
    assert (502, True) == (status, b"over" in body)
    await mirror.stop()
    _, [answered] = request_and_answers(mirror)
    assert (200, ANSWER_CAP + 10, answer.BODY_KEEP) == (
        answered["status"],
        answered["body_size"],
        len(answered["body"]),
    )
    assert "over" in answered["error"] and answered["returned"]  # the 502 stands for it


def _full_disk(recorder: Recorder) -> None:
    full = os.open("/dev/full", os.O_WRONLY)
    try:
        os.dup2(full, recorder._fd)  # type: ignore[arg-type]
    finally:
        os.close(full)


async def test_a_full_disk_still_forwards_and_answers_503_only_when_the_upstream_fails_too(
    stubs: Callable[..., Awaitable[Stub]], forwarder: Callable[..., Awaitable[Forwarder]]
) -> None:
    """The snapshot cannot be written: the request still goes upstream and the SDK gets the
    upstream's answer (counted as unrecorded); with the upstream down too, a 503 + Retry-After."""
    upstream = await stubs(body=b'{"id":"up"}')
    mirror = await forwarder(upstream=upstream.dsn(), failure="pass")
    _full_disk(mirror.recorder)
    status, _, body, _ = await post(f"{mirror.url}/api/5/envelope/", envelope_body()[1], auth())
    assert (200, b'{"id":"up"}', 1) == (status, body, len(upstream.received))
    down = await forwarder(upstream=closed_port_dsn(), failure="pass")
    _full_disk(down.recorder)
    status, headers, _, _ = await post(f"{down.url}/api/5/envelope/", envelope_body()[1], auth())
    assert (503, "2") == (status, headers["Retry-After"])
    await mirror.stop()
    await down.stop()
    assert (1, 1) == (mirror.forwarding.unrecorded, down.forwarding.unrecorded)
    assert ([1], [0]) == (
        [t.delivered for t in mirror.forwarding.tallies],
        [t.delivered for t in down.forwarding.tallies],
    )
    assert ([], []) == mirror.records()


async def send_many(url: str, count: int) -> float:
    """Post ``count`` envelopes one after the other; how long it took in all."""
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            async with session.post(f"{url}/api/5/envelope/", data=envelope_body()[1], headers=auth()) as response:
                assert 200 == response.status
                await response.read()
    return time.monotonic() - started


async def test_a_slow_candidate_does_not_slow_the_sdk_and_its_answers_are_recorded(
    stubs: Callable[..., Awaitable[Stub]], forwarder: Callable[..., Awaitable[Forwarder]]
) -> None:
    """A candidate taking 1.5 s per request: the SDK's requests take about as long as without
    it (one waited-for copy would add 1.5 s); the candidate gets its copies, rewritten for its
    own project and key, and its answers are recorded (never returned)."""
    upstream = await stubs()
    slow = await stubs(delay=1.5, status=202)
    plain = await forwarder(upstream=upstream.dsn())
    baseline = await send_many(plain.url, 5)
    mirror = await forwarder(upstream=upstream.dsn(), tee=(slow.dsn("c" * 32, 9),))
    shadowed = await send_many(mirror.url, 5)
    assert shadowed < baseline + 1.0, (baseline, shadowed)
    await mirror.stop()  # the queue drains within the grace period
    assert 5 == len(slow.received)
    assert {("/api/9/envelope/", True)} == {
        (path, "sentry_key=" + "c" * 32 in h["X-Sentry-Auth"]) for _, path, h, _ in slow.received
    }
    requests, answers = mirror.records()
    candidates = [a for a in answers if a["target"] == "candidate"]
    assert sorted(r["id"] for r in requests) == sorted(a["request_id"] for a in candidates)
    assert {(202, True, False, False)} == {
        (a["status"], a["delivered"], a["returned"], a["dropped"]) for a in candidates
    }
    assert [(5, 0, 0), (5, 0, 0)] == [(t.delivered, t.undelivered, t.dropped) for t in mirror.forwarding.tallies]


async def test_a_full_candidate_queue_drops_copies_and_records_each_drop(
    stubs: Callable[..., Awaitable[Stub]], forwarder: Callable[..., Awaitable[Forwarder]]
) -> None:
    """Queue of 1 and a candidate that takes 1 s: what does not fit is dropped, and every
    request still has exactly one candidate answer record: answered, dropped, or cut by the stop."""
    from sentry_mirror.io.tee import WORKERS

    slow = await stubs(delay=1.0)
    mirror = await forwarder(tee=(slow.dsn(),), tee_queue=1)  # no upstream: answered locally
    await send_many(mirror.url, WORKERS + 6)
    await mirror.stop(0.5)
    requests, answers = mirror.records()
    assert sorted(r["id"] for r in requests) == sorted(a["request_id"] for a in answers)
    dropped = [a for a in answers if a["dropped"]]
    assert len(dropped) >= 5
    assert {(None, "queue full", False)} == {(a["status"], a["error"], a["delivered"]) for a in dropped[:5]}
    [tally] = mirror.forwarding.tallies
    assert (WORKERS + 6, len(dropped)) == (tally.delivered + tally.undelivered + tally.dropped, tally.dropped)
    assert all("forwarded_to" not in r for r in requests)  # no upstream: nothing to deliver later


async def test_an_https_upstream_is_trusted_through_ca_file_and_refused_without_it(
    stubs: Callable[..., Awaitable[Stub]], forwarder: Callable[..., Awaitable[Forwarder]], tmp_path: Path
) -> None:
    """A test CA (trustme): with ``--ca-file`` the upstream's certificate is verified and the
    request delivered; without it the certificate is refused (never sent unverified)."""
    trustme = pytest.importorskip("trustme") if os.environ.get("CI") != "true" else __import__("trustme")
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    upstream = await stubs(ssl_context=server_context, body=b'{"id":"tls"}')
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    trusting = await forwarder(upstream=upstream.dsn(), ca_file=ca_file, failure="pass")
    status, _, body, _ = await post(f"{trusting.url}/api/5/envelope/", envelope_body()[1], auth())
    assert (200, b'{"id":"tls"}', 1) == (status, body, len(upstream.received))
    refusing = await forwarder(upstream=upstream.dsn(), failure="pass")
    status, _, body, _ = await post(f"{refusing.url}/api/5/envelope/", envelope_body()[1], auth())
    assert (502, 1) == (status, len(upstream.received))
    assert b"CERTIFICATE_VERIFY_FAILED" in body
    await refusing.stop()
    _, [answered] = request_and_answers(refusing)
    assert answered["to"].startswith("https://127.0.0.1:") and not answered["delivered"]


async def test_a_bad_ca_file_says_so() -> None:
    from sentry_mirror.errors import MirrorError
    from sentry_mirror.io.forward import tls_context

    with pytest.raises(MirrorError, match="--ca-file"):
        tls_context(Path(__file__))


async def test_forwarding_to_bugsink_stores_the_event(
    bugsink: Any, forwarder: Callable[..., Awaitable[Forwarder]]
) -> None:
    """A real Bugsink as the upstream: the envelope sent through the mirror is stored there,
    and the request and Bugsink's answer are both on disk."""
    project_id, dsn = bugsink.project()
    key = dsn.split("//")[1].split("@")[0]
    mirror = await forwarder(upstream=dsn, failure="pass")
    event_id, body = envelope_body()
    status, _, answer_body, _ = await post(f"{mirror.url}/api/{project_id}/envelope/", body, auth(key))
    assert 200 == status, answer_body
    assert [event_id] == bugsink.stored_events(project_id)
    await mirror.stop()
    request, [answered] = request_and_answers(mirror)
    assert (event_id, 200, True) == (request["summary"]["event_id"], answered["status"], answered["delivered"])


async def test_listen_forward_on_the_command_line(stubs: Callable[..., Awaitable[Stub]], tmp_path: Path) -> None:
    """``listen --forward``: the banner gives the upstream's key and project at the mirror's
    address and says where requests go (no key); the stop line counts what was delivered."""
    upstream = await stubs(status=200)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sentry_mirror",
        "listen",
        "--port",
        "0",
        "--dir",
        str(tmp_path),
        "--forward",
        upstream.dsn(),
        "--upstream-failure",
        "pass",
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    banner = [(await process.stdout.readline()).decode() for _ in range(3)]
    dsn = banner[0].split()[1]
    assert dsn.startswith(f"http://{UPSTREAM_KEY}@127.0.0.1:") and dsn.endswith("/5")
    assert f"forwarding to http://127.0.0.1:{upstream.port}/5" == banner[2].strip()
    port = dsn.rsplit(":", 1)[1].split("/")[0]
    status, _, _, _ = await post(f"http://127.0.0.1:{port}/api/5/envelope/", envelope_body()[1], auth())
    assert 200 == status
    live = (await process.stdout.readline()).decode()
    process.terminate()
    rest = (await asyncio.wait_for(process.stdout.read(), 30)).decode()
    assert 0 == await process.wait()
    assert "→ upstream 200" in live
    assert f"upstream http://127.0.0.1:{upstream.port}/5: 1 delivered, 0 undelivered" in rest
    assert "stopped: 1 requests in 1 file(s)" in rest
    assert UPSTREAM_KEY not in "".join(banner[1:]) + live + rest
