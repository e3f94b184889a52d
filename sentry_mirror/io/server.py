"""The aiohttp server that impersonates a Sentry DSN.

Each request: read the wire body (up to the cap), let :func:`ingest.handle` decide the
answer, have the recorder put the record on disk, and only then answer. aiohttp's
own request decompression is turned off (``auto_decompress=False``) so the record
keeps the wire size and encoding, and the cap applies to the decoded size.

Every path goes to the one handler (:func:`ingest.handle` does the routing), so it runs
on aiohttp's low-level server: no application, router or middleware work per request.

One request can never stop the listener: a failure anywhere in its handling (a bug in
parsing, building or serialising its record) becomes a 500 for that request, recorded with
the reason (a minimal record when the full one cannot be built). When the snapshot cannot
be written the request gets 503 with ``Retry-After`` and the listener goes on (see
:mod:`sentry_mirror.io.recorder`). Slow clients are bounded by :class:`Timeouts`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import HttpVersion11, web

from sentry_mirror.core import ingest, record
from sentry_mirror.core.script import Script
from sentry_mirror.core.webapi import auth as api_auth
from sentry_mirror.core.webapi import routes as api_routes
from sentry_mirror.core.webapi.chunks import DEFAULT_MAX_UPLOAD
from sentry_mirror.errors import MirrorError, SnapshotError
from sentry_mirror.io import body as bodies
from sentry_mirror.io import decoding, scripting, webapi
from sentry_mirror.io.forwarding_app import Forwarding
from sentry_mirror.io.recorder import Recorder, RecordError

#: Longest request line and header aiohttp accepts (its default, 8190, cuts long store GETs).
MAX_LINE = 1 << 20
#: After the grace period, how long handlers still running (a record being written) get.
SHUTDOWN_MARGIN = 1.0

log = logging.getLogger(__name__)

#: Called with each request record once it is on disk, and in forward mode the upstream's answer record.
OnRecord = Callable[[dict[str, Any], dict[str, Any] | None], None]
#: Sends a web API request (wire size, truncated, remote, the server's store) where it is answered.
ApiRelay = Callable[[ingest.Request, int, bool, str | None, webapi.Store], Awaitable[web.Response]]


@dataclass(frozen=True)
class Timeouts:
    """How long the listener waits for slow clients, in seconds.

    ``header``: the whole request head must arrive within this of the connection opening
    or of the previous answer on it (Relay: ``CLIENT_HEADER_TIMEOUT``, hyper's
    ``header_read_timeout``, 5 s); the connection is then closed without an answer, as
    Relay does. This also ends idle keep-alive connections (Relay's ``keepalive_timeout``
    is 5 s too).
    ``body``: longest pause between two pieces of a body (as Relay's ``idle_timeout``,
    which is off by default there); the request then gets 408 and is recorded with what
    arrived.
    ``grace``: on shutdown, how long requests in flight get to finish (Relay's
    ``shutdown_timeout`` is 10 s; 5 s here, inside the 10 s Docker and systemd give before
    SIGKILL); bodies still arriving then get 503 with ``Retry-After``, and are recorded.
    """

    header: float = 5.0
    body: float = 30.0
    grace: float = 5.0


class _Guarded:
    """The live-line callback, run after the record is on disk: if it fails (a closed pipe
    on stdout, say) it is logged and switched off; the SDK still gets its answer."""

    def __init__(self, callback: OnRecord | None) -> None:
        self.callback = callback

    def __call__(self, entry: dict[str, Any], upstream: dict[str, Any] | None = None) -> None:
        if self.callback is None:
            return
        try:
            self.callback(entry, upstream)
        except Exception:
            self.callback = None
            log.exception("the live line could not be printed; no more live lines")


class _Flight:
    """The requests being handled, and the shutdown deadline once stopping started."""

    def __init__(self) -> None:
        self.count = 0
        self.deadline: float | None = None
        self.reading: set[asyncio.Timeout] = set()  # body reads and waits on the upstream, cut at the deadline
        self._idle: asyncio.Event | None = None

    @property
    def draining(self) -> bool:
        return self.deadline is not None

    def until(self, moment: float) -> float:
        return moment if self.deadline is None else min(moment, self.deadline)

    def begin(self) -> None:
        self.count += 1

    def end(self) -> None:
        self.count -= 1
        if self.count == 0 and self._idle is not None:
            self._idle.set()

    async def drain(self, grace: float) -> None:
        """Cut body reads at ``grace`` seconds from now; wait until no request is left
        (at most ``grace`` + :data:`SHUTDOWN_MARGIN`)."""
        loop = asyncio.get_running_loop()
        self.deadline = loop.time() + grace
        for timeout in list(self.reading):
            if not timeout.expired():  # one that just fired is leaving the set (it cannot be moved)
                timeout.reschedule(min(timeout.when() or math.inf, self.deadline))
        if self.count == 0:
            return
        self._idle = asyncio.Event()
        try:
            await asyncio.wait_for(self._idle.wait(), grace + SHUTDOWN_MARGIN)
        except TimeoutError:
            log.warning("%d request(s) still in flight after the grace period", self.count)


@dataclass(frozen=True)
class Mirror:
    """What a listener records into and how it answers (:func:`serve` runs it)."""

    recorder: Recorder
    config: ingest.Config
    on_record: _Guarded
    timeouts: Timeouts = Timeouts()
    flight: _Flight = field(default_factory=_Flight)
    #: decoded bytes that big bodies may hold at once, across requests (io/decoding.py)
    budget: decoding.DecodeBudget = field(default_factory=decoding.DecodeBudget)
    #: forward mode: the upstream and candidates requests are sent on to (io/forwarding_app.py)
    forwarding: Forwarding | None = None
    #: the web API's chunk store, releases and assembled files (io/webapi.py)
    webapi: webapi.WebApi | None = None
    scripting: scripting.Scripting | None = None  # scripted answers (io/scripting.py)
    api_relay: ApiRelay | None = None  # ``--workers``: where web API requests are answered (io/api_relay.py)


def create_app(
    recorder: Recorder,
    config: ingest.Config = ingest.Config(),
    on_record: OnRecord | None = None,
    timeouts: Timeouts = Timeouts(),
    forwarding: Forwarding | None = None,
    repos: tuple[str, ...] = (),
    max_upload: int = DEFAULT_MAX_UPLOAD,
    script: Script | None = None,
    api_relay: ApiRelay | None = None,
) -> Mirror:
    """The mirror's handler, to :func:`serve`; ``repos``: the repositories the web API lists,
    ``max_upload``: the largest file it puts together from uploaded chunks; ``script``: scripted answers;
    ``api_relay``: web API requests go there, not to a web API of this process (``--workers``)."""
    api = webapi.WebApi(recorder.directory, repos, max_upload) if api_relay is None else None
    scripted = scripting.Scripting(script) if script is not None else None
    return Mirror(
        recorder, config, _Guarded(on_record), timeouts, forwarding=forwarding, webapi=api, scripting=scripted,
        api_relay=api_relay,
    )  # fmt: skip


def _headers(request: web.BaseRequest) -> tuple[tuple[str, str], ...]:
    """The request's headers as received; a web API token is redacted at once (core/webapi/auth.py)."""
    headers = tuple([(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers])
    return api_auth.redact_headers(headers) if api_routes.is_api(request.rel_url.raw_path) else headers


def _remote(request: web.BaseRequest) -> str | None:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return request.remote


def _understand(
    incoming: ingest.Request,
    config: ingest.Config,
    wire_size: int,
    truncated: bool,
    remote: str | None,
) -> tuple[ingest.Response, dict[str, Any]]:
    """The answer to one request and its record (in a worker thread for big bodies).

    The receive time is taken here, once the body is in: a listener's records are
    written in the order of their receive times, which readers rely on. Never raises."""
    if truncated:
        outcome = ingest.too_large(incoming, config, wire_size)
    else:
        try:
            outcome = ingest.handle(incoming, config)
        except Exception as exc:
            log.exception("a request could not be handled")
            outcome = ingest.internal_error(incoming, exc)
    return _recorded(incoming, outcome, remote, wire_size, truncated)


def _recorded(
    incoming: ingest.Request, outcome: ingest.Outcome, remote: str | None, wire_size: int, truncated: bool
) -> tuple[ingest.Response, dict[str, Any]]:
    """``outcome``'s response and the record of it; a 500 and its record if that fails."""
    received_at = datetime.now(UTC)
    try:
        entry = record.build(
            incoming, outcome, received_at=received_at, remote_addr=remote, wire_size=wire_size, truncated=truncated
        )
    except Exception as exc:
        log.exception("the record of a request could not be built")
        return _failure(incoming, exc, received_at, remote, wire_size)
    return outcome.response, entry


def _failure(
    incoming: ingest.Request, exc: BaseException, received_at: datetime, remote: str | None, wire_size: int
) -> tuple[ingest.Response, dict[str, Any]]:
    """The 500 for a request whose handling failed, and its record: the full one when it
    can be built, else a minimal one; either way with the reason and the status sent."""
    outcome = ingest.internal_error(incoming, exc)
    try:
        return outcome.response, record.build(
            incoming, outcome, received_at=received_at, remote_addr=remote, wire_size=wire_size
        )
    except Exception as again:
        request = {
            "id": record.new_id(),
            "received_at": record.format_time(received_at),
            "remote_addr": remote,
            "method": incoming.method,
            "path": incoming.path,
            "query": incoming.query,
            "headers": incoming.headers,
            "content_encoding": incoming.header("content-encoding"),  # the body may still be sent on as it came
            "wire_size": wire_size,
            "error": outcome.error,
            "response": {
                "status": outcome.response.status,
                "headers": outcome.response.headers,
                "body": outcome.response.body.decode("utf-8", "replace"),
                "body_base64": False,
            },
        }
        return outcome.response, record.minimal(request, f"{type(again).__name__}: {again}")


async def _handle(mirror: Mirror, request: web.BaseRequest) -> web.StreamResponse:
    """One request, start to answer; a scripted delay or drop is waited out here, once the
    frames that held the request's body and record are gone (io/scripting.py)."""
    mirror.flight.begin()
    try:
        response, then = await _attempt(mirror, request)
        if then is not None:
            await then()
            if mirror.flight.draining:  # it began stopping during the delay
                response.force_close()
        return response
    finally:
        mirror.flight.end()


async def _attempt(mirror: Mirror, request: web.BaseRequest) -> tuple[web.StreamResponse, scripting.Then | None]:
    """The answer and what to do before sending it: whatever fails in it is a 500 for it, recorded."""
    try:
        return await _answer(mirror, request)
    except ConnectionError:  # the client went away (before its body was in): no one to answer
        return web.Response(status=400), None
    except Exception as exc:
        log.exception("a request failed")
        incoming = ingest.Request(
            request.method, request.rel_url.raw_path, request.rel_url.raw_query_string, _headers(request)
        )
        response, entry = _failure(incoming, exc, datetime.now(UTC), _remote(request), 0)
        return await _store(mirror, incoming, response, entry, close=True), None


async def _answer(mirror: Mirror, request: web.BaseRequest) -> tuple[web.StreamResponse, scripting.Then | None]:
    config = mirror.config
    if request.version == HttpVersion11 and request.headers.get("Expect", "").lower() == "100-continue":
        # curl (and so sentry-cli) asks before sending a big body; without the interim
        # answer it waits a second before sending anyway
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0
    body, wire_size, truncated, cut = await bodies.read_body(
        request, config.max_body, mirror.flight, mirror.timeouts.body
    )
    incoming = ingest.Request(
        method=request.method,
        path=request.rel_url.raw_path,
        query=request.rel_url.raw_query_string,
        headers=_headers(request),
        body=body,
    )
    if cut is not None:
        return await _cut_short(mirror, request, incoming, wire_size, cut), None
    remote = _remote(request)
    if mirror.api_relay is not None and api_routes.is_api(incoming.path):  # answered by another worker
        return await mirror.api_relay(incoming, wire_size, truncated, remote, functools.partial(_store, mirror)), None
    if mirror.webapi is not None and api_routes.is_api(incoming.path):  # answered here, never sent on
        return await answer_api(mirror, incoming, wire_size, truncated, remote), None
    # big bodies (by their decoded size) are understood in a worker, within the budget
    response, entry = await decoding.understand(
        _understand, mirror.budget, incoming, config, wire_size, truncated, remote
    )
    then = None
    if mirror.scripting is not None:  # the answer may be scripted: recorded so, then delayed or dropped
        response, then = mirror.scripting.answer(incoming.method, response, entry, mirror.flight, request)
    try:
        forwarding = mirror.forwarding
        forward = forwarding is not None and not truncated  # a body cut short is not sent on
        if forwarding is not None and forward and forwarding.looped(incoming.headers):
            response, forward = _refuse_loop(entry), False
            forwarding.warn(LOOP, counts=False)
        if forward and forwarding is not None and forwarding.upstream is not None:
            entry["forwarded_to"] = forwarding.upstream.to
        stored = await _store(mirror, incoming, response, entry, close=truncated, forward=forward, then=then)
        return stored, then
    except BaseException:
        if then is not None:
            then.cancel()  # never waited: its place among the delayed is free again
        raise


async def answer_api(
    mirror: Mirror, incoming: ingest.Request, wire_size: int, truncated: bool, remote: str | None
) -> web.Response:
    """A web API request answered by this process's web API, once its records are on disk."""
    assert mirror.webapi is not None
    return await webapi.answer(
        mirror.webapi, mirror.recorder, incoming, max_body=mirror.config.max_body, wire_size=wire_size,
        truncated=truncated, remote=remote, store=functools.partial(_store, mirror), budget=mirror.budget,
        announce=mirror.on_record,
    )  # fmt: skip


#: Why a request that came back to the listener that sent it on is refused.
LOOP = "this request was sent on by this mirror and came back to it: --forward or --tee names this listener"


def _refuse_loop(entry: dict[str, Any]) -> ingest.Response:
    """A request this listener sent on came back to it: 508 Loop Detected, recorded, and not
    sent on again (it would come back for ever)."""
    response = ingest.error_response(508, LOOP)
    body, is_base64 = record.encode_bytes(response.body)
    entry["response"] = {"status": 508, "headers": list(response.headers), "body": body, "body_base64": is_base64}
    entry["error"] = LOOP
    return response


async def _cut_short(
    mirror: Mirror, request: web.BaseRequest, incoming: ingest.Request, wire_size: int, cut: str
) -> web.StreamResponse:
    """A body that did not arrive whole (``cut``, see :func:`~sentry_mirror.io.body.read_body`): recorded with what
    came, answered, and the connection closed at once rather than after aiohttp's lingering
    wait for a body that is not coming."""
    outcome = ingest.cut_short(incoming, mirror.config, wire_size, cut)
    response, entry = _recorded(incoming, outcome, _remote(request), wire_size, True)
    answer = await _store(mirror, incoming, response, entry, close=True)
    await answer.prepare(request)
    await answer.write_eof()
    request.protocol.force_close()
    return answer


async def _store(
    mirror: Mirror,
    incoming: ingest.Request,
    response: ingest.Response,
    entry: dict[str, Any],
    *,
    close: bool,
    forward: bool = False,
    then: scripting.Then | None = None,
) -> web.Response:
    """Put ``entry`` on disk, then answer ``response``; 503 when storage is unavailable.

    ``forward``: then send it on (:meth:`Forwarding.relay`), even when it could not be
    stored, and answer what the upstream answered. ``then``: the scripted delay or drop,
    disarmed when the record could not be stored (the 503 goes out at once)."""
    try:
        try:
            await mirror.recorder.write(entry)
        except RecordError as exc:  # this record could not be serialised: a 500, recorded minimally
            received_at = (
                record.parse_time(entry["received_at"])
                if isinstance(entry.get("received_at"), str)
                else datetime.now(UTC)
            )
            response, entry = _failure(incoming, exc, received_at, entry.get("remote_addr"), len(incoming.body))
            entry = record.minimal(entry, str(exc))  # still sent on: production traffic is not ours to lose
            await mirror.recorder.write(entry)
            close = True
    except SnapshotError as exc:
        # Nothing is acknowledged that is not on disk: tell the SDK to retry later.
        unavailable = ingest.unavailable(f"the mirror could not store this request: {exc}")
        if then is not None:  # not the scripted answer: the 503 goes out at once
            then.disarm()
        if not forward or mirror.forwarding is None or mirror.forwarding.upstream is None:
            return _respond(unavailable, close=True)
        response, _ = await _relay(mirror, entry, incoming.body, unavailable, recorded=False)
        return _respond(response, close=response.status == 503)
    upstream = None
    if forward and mirror.forwarding is not None:
        mirror.forwarding.offer(entry, incoming.body)
        if mirror.forwarding.upstream is not None:
            response, upstream = await _relay(mirror, entry, incoming.body, response, recorded=True)
    mirror.on_record(entry, upstream)
    return _respond(response, close=close or mirror.flight.draining)


#: What the SDK is told (``--upstream-failure pass``) when the listener stops before the upstream answered.
STOPPED = "the mirror stopped before the upstream answered"


async def _relay(
    mirror: Mirror, entry: dict[str, Any], wire: bytes, local: ingest.Response, *, recorded: bool
) -> tuple[ingest.Response, dict[str, Any] | None]:
    """:meth:`Forwarding.relay`, given up when the listener stops and its grace period ends
    (the answer record says so): the SDK then gets ``local`` (or a 504 in ``pass`` mode)
    rather than a connection closed without an answer."""
    forwarding, flight = mirror.forwarding, mirror.flight
    assert forwarding is not None
    timeout = asyncio.timeout_at(flight.deadline)  # drain() moves it to the end of the grace period
    flight.reading.add(timeout)
    try:
        async with timeout:
            return await forwarding.relay(entry, wire, local, recorded=recorded)
    except TimeoutError:
        return (local if forwarding.failure == "answer" else ingest.error_response(504, STOPPED, plain=True)), None
    finally:
        flight.reading.discard(timeout)


def _respond(response: ingest.Response, *, close: bool = False) -> web.Response:
    result = web.Response(status=response.status, body=response.body, headers=response.headers)
    if close:
        result.force_close()
    return result


@dataclass
class Running:
    """A listener bound to a socket; ``port`` is the real one when 0 was asked for."""

    runner: web.BaseRunner
    host: str
    port: int
    mirror: Mirror | None = None

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting; give requests in flight ``grace`` seconds (default: the mirror's)
        to finish, answering bodies still arriving then with 503; close every connection."""
        for site in list(self.runner.sites):
            await site.stop()
        if self.mirror is not None:
            await self.mirror.flight.drain(self.mirror.timeouts.grace if grace is None else grace)
        await self.runner.cleanup()


async def serve(app: Mirror, host: str = "127.0.0.1", port: int = 0, sock: socket.socket | None = None) -> Running:
    """Start ``app`` on ``host:port``, or on the listening socket ``sock`` (aiohttp
    decompression off); the caller stops it."""
    server = web.Server(
        functools.partial(_handle, app),
        auto_decompress=False,
        access_log=None,
        # long store GETs (?sentry_data=…) and big auth headers must reach the handler
        max_line_size=MAX_LINE,
        max_field_size=MAX_LINE,
        # aiohttp's keep-alive timer runs from the connection's start and from each answer
        # until a whole request head is in: the header timeout (see Timeouts)
        keepalive_timeout=app.timeouts.header,
    )
    runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=SHUTDOWN_MARGIN)
    await runner.setup()
    site = web.SockSite(runner, sock) if sock is not None else web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise MirrorError(f"cannot listen on {host}:{port}: {exc.strerror} (try --port 0 for a free port)") from None
    bound = next((address[1] for address in runner.addresses if isinstance(address, tuple)), port)
    return Running(runner, host, bound, app)
