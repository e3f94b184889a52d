"""The aiohttp server that impersonates a Sentry DSN.

Each request: read the wire body (up to the cap), let :func:`ingest.handle` decide the
answer, have the recorder put the record on disk, and only then answer. aiohttp's
own request decompression is turned off (``auto_decompress=False``) so the record
keeps the wire size and encoding, and the cap applies to the decoded size.

Every path goes to the one handler (:func:`ingest.handle` does the routing), so it runs
on aiohttp's low-level server: no application, router or middleware work per request.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import HttpVersion11, web

from sentry_mirror.core import ingest, record
from sentry_mirror.errors import MirrorError
from sentry_mirror.io import decoding
from sentry_mirror.io.recorder import Recorder

#: Longest request line and header aiohttp accepts (its default, 8190, cuts long store GETs).
MAX_LINE = 1 << 20
#: How much of an over-limit body is kept in its record.
TRUNCATED_KEEP = 64 * 1024

log = logging.getLogger(__name__)

OnRecord = Callable[[dict[str, Any]], None]

class _Guarded:
    """The live-line callback, run after the record is on disk: if it fails (a closed pipe
    on stdout, say) it is logged and switched off; the SDK still gets its answer."""

    def __init__(self, callback: OnRecord | None) -> None:
        self.callback = callback

    def __call__(self, entry: dict[str, Any]) -> None:
        if self.callback is None:
            return
        try:
            self.callback(entry)
        except Exception:  # noqa: BLE001 - the record is on disk: a broken console must not fail the SDK
            self.callback = None
            log.exception("the live line could not be printed; no more live lines")


@dataclass(frozen=True)
class Mirror:
    """What a listener records into and how it answers (:func:`serve` runs it)."""

    recorder: Recorder
    config: ingest.Config
    on_record: _Guarded
    #: decoded bytes that big bodies may hold at once, across requests (io/decoding.py)
    budget: decoding.DecodeBudget = field(default_factory=decoding.DecodeBudget)


def create_app(recorder: Recorder, config: ingest.Config = ingest.Config(), on_record: OnRecord | None = None) -> Mirror:
    """The mirror's handler, to :func:`serve`."""
    return Mirror(recorder, config, _Guarded(on_record))


async def _read_body(request: web.BaseRequest, limit: int) -> tuple[bytes, int, bool]:
    """(body, wire size, truncated): stops storing at ``limit`` bytes of wire body."""
    length = request.content_length
    if length is not None and length <= limit:  # the parser stops at Content-Length
        body = await request.content.read()
        return body, len(body), False
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            return b"".join(chunks)[:TRUNCATED_KEEP], size, True
    return b"".join(chunks), size, False


def _remote(request: web.BaseRequest) -> str | None:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return request.remote


def _understand(
    incoming: ingest.Request, config: ingest.Config, wire_size: int, truncated: bool, remote: str | None
) -> tuple[ingest.Response, dict[str, Any]]:
    """The answer to one request and its record (in a worker thread for big bodies).

    The receive time is taken here, once the body is in: a listener's records are
    written in the order of their receive times, which readers rely on."""
    if truncated:
        outcome = ingest.too_large(incoming, config, wire_size)
    else:
        try:
            outcome = ingest.handle(incoming, config)
        except Exception as exc:  # noqa: BLE001 - a bug must still be captured and answered, never crash
            outcome = ingest.internal_error(incoming, exc)
    entry = record.build(
        incoming, outcome, received_at=datetime.now(UTC), remote_addr=remote, wire_size=wire_size, truncated=truncated
    )
    return outcome.response, entry


async def _handle(mirror: Mirror, request: web.BaseRequest) -> web.StreamResponse:
    config = mirror.config
    if request.version == HttpVersion11 and request.headers.get("Expect", "").lower() == "100-continue":
        # curl (and so sentry-cli) asks before sending a big body; without the interim
        # answer it waits a second before sending anyway
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0
    body, wire_size, truncated = await _read_body(request, config.max_body)
    incoming = ingest.Request(
        method=request.method,
        path=request.rel_url.raw_path,
        query=request.rel_url.raw_query_string,
        headers=tuple([(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers]),
        body=body,
    )
    remote = _remote(request)
    # big bodies (by their decoded size) are understood in a worker, within the budget
    response, entry = await decoding.understand(_understand, mirror.budget, incoming, config, wire_size, truncated, remote)
    try:
        await mirror.recorder.write(entry)
    except MirrorError as exc:
        # Nothing is acknowledged that is not on disk: tell the SDK to retry later.
        return _respond(ingest.error_response(503, f"the mirror could not store this request: {exc}"), close=True)
    mirror.on_record(entry)
    return _respond(response, close=truncated)


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

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (up to the shutdown timeout), close."""
        await self.runner.cleanup()


async def serve(app: Mirror, host: str = "127.0.0.1", port: int = 0, *, shutdown_timeout: float = 30.0) -> Running:
    """Start ``app`` on ``host:port`` (aiohttp decompression off); the caller stops it."""
    server = web.Server(
        functools.partial(_handle, app),
        auto_decompress=False,
        access_log=None,
        # long store GETs (?sentry_data=…) and big auth headers must reach the handler
        max_line_size=MAX_LINE,
        max_field_size=MAX_LINE,
    )
    runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise MirrorError(f"cannot listen on {host}:{port}: {exc.strerror} (try --port 0 for a free port)") from None
    bound = next((address[1] for address in runner.addresses if isinstance(address, tuple)), port)
    return Running(runner, host, bound)
