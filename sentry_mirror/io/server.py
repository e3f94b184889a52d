"""The aiohttp server that impersonates a Sentry DSN.

Each request: read the wire body (up to the cap), let :func:`ingest.handle` decide the
answer, have the recorder put the record on disk, and only then answer. aiohttp's
own request decompression is turned off (``auto_decompress=False``) so the record
keeps the wire size and encoding, and the cap applies to the decoded size.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from sentry_mirror.core import ingest, record
from sentry_mirror.errors import MirrorError
from sentry_mirror.io.recorder import Recorder

#: Bodies bigger than this are decoded and parsed in a worker thread.
THREAD_THRESHOLD = 1 << 20
#: How much of an over-limit body is kept in its record.
TRUNCATED_KEEP = 64 * 1024

OnRecord = Callable[[dict[str, Any]], None]

RECORDER: web.AppKey[Recorder] = web.AppKey("recorder", Recorder)
CONFIG: web.AppKey[ingest.Config] = web.AppKey("config", ingest.Config)
ON_RECORD: web.AppKey[OnRecord | None] = web.AppKey("on_record", object)  # type: ignore[arg-type]


def create_app(recorder: Recorder, config: ingest.Config = ingest.Config(), on_record: OnRecord | None = None) -> web.Application:
    """The mirror as an aiohttp application (serve it with ``auto_decompress=False``)."""
    app = web.Application(client_max_size=config.max_body)
    app[RECORDER] = recorder
    app[CONFIG] = config
    app[ON_RECORD] = on_record
    app.router.add_route("*", "/{tail:.*}", _handle)
    return app


async def _read_body(request: web.Request, limit: int) -> tuple[bytes, int, bool]:
    """(body, wire size, truncated): stops storing at ``limit`` bytes of wire body."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            return b"".join(chunks)[:TRUNCATED_KEEP], size, True
    return b"".join(chunks), size, False


def _remote(request: web.Request) -> str | None:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return request.remote


async def _handle(request: web.Request) -> web.StreamResponse:
    received_at = datetime.now(UTC)
    app = request.app
    config = app[CONFIG]
    body, wire_size, truncated = await _read_body(request, config.max_body)
    incoming = ingest.Request(
        method=request.method,
        path=request.rel_url.raw_path,
        query=request.rel_url.raw_query_string,
        headers=tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers),
        body=body,
    )
    if truncated:
        outcome = ingest.too_large(incoming, config, wire_size)
    elif wire_size > THREAD_THRESHOLD:
        outcome = await asyncio.to_thread(ingest.handle, incoming, config)
    else:
        outcome = ingest.handle(incoming, config)
    entry = record.build(
        incoming,
        outcome,
        received_at=received_at,
        remote_addr=_remote(request),
        wire_size=wire_size,
        truncated=truncated,
    )
    try:
        await app[RECORDER].write(entry)
    except MirrorError as exc:
        # Nothing is acknowledged that is not on disk: tell the SDK to retry later.
        return _respond(ingest.error_response(503, f"the mirror could not store this request: {exc}"), close=True)
    callback = app[ON_RECORD]
    if callback is not None:
        callback(entry)
    return _respond(outcome.response, close=truncated)


def _respond(response: ingest.Response, *, close: bool = False) -> web.Response:
    result = web.Response(status=response.status, body=response.body)
    for name, value in response.headers:
        result.headers.add(name, value)
    if "Content-Type" not in result.headers:
        # aiohttp would add application/octet-stream; Relay sends none on empty bodies
        result.content_type = "text/plain" if response.body else "application/octet-stream"
    if close:
        result.force_close()
    return result


@dataclass
class Running:
    """A listener bound to a socket; ``port`` is the real one when 0 was asked for."""

    runner: web.AppRunner
    host: str
    port: int

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (up to the shutdown timeout), close."""
        await self.runner.cleanup()


async def serve(app: web.Application, host: str = "127.0.0.1", port: int = 0, *, shutdown_timeout: float = 30.0) -> Running:
    """Start ``app`` on ``host:port`` (aiohttp decompression off); the caller stops it."""
    runner = web.AppRunner(app, auto_decompress=False, handle_signals=False, shutdown_timeout=shutdown_timeout, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise MirrorError(f"cannot listen on {host}:{port}: {exc.strerror} (try --port 0 for a free port)") from None
    server = site._server  # noqa: SLF001 - the bound port is only known here
    sockets = getattr(server, "sockets", None) or []
    bound = next((s.getsockname()[1] for s in sockets if s.family in (socket.AF_INET, socket.AF_INET6)), port)
    return Running(runner, host, bound)
