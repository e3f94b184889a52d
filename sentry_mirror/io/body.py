"""Reading a request's body off the wire, bounded (the listener's, io/server.py).

A body is stored up to a cap (the rest only counted), a pause between two pieces is
bounded by the body timeout, and a stopping listener cuts the reads still going at the
end of its grace period (``flight.reading``)."""

from __future__ import annotations

import asyncio
from typing import Protocol

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

#: How much of an over-limit body is kept in its record.
TRUNCATED_KEEP = 64 * 1024


class Flight(Protocol):
    """The server's requests in flight (io/server.py): timeouts cut when the listener stops."""

    deadline: float | None
    reading: set[asyncio.Timeout]

    def until(self, moment: float) -> float: ...


async def read_body(
    request: web.BaseRequest, limit: int, flight: Flight, pause: float
) -> tuple[bytes, int, bool, str | None]:
    """(body, wire size, truncated, cut): stops storing at ``limit`` bytes of wire body;
    ``pause``: the longest wait for the next piece (the body timeout).

    ``cut`` says why a body is incomplete: ``timeout`` (no byte for the body timeout),
    ``shutdown`` (the grace period ended) or the framing error (a broken chunked body)."""
    content = request.content
    if content.is_eof() and content.exception() is None:  # the whole body came with the head: no waiting
        body = content.read_nowait(-1)
        if len(body) > limit:
            return body[:TRUNCATED_KEEP], len(body), True, None
        return body, len(body), False, None
    loop = asyncio.get_running_loop()
    chunks: list[bytes] = []
    size = 0
    timeout = asyncio.timeout_at(flight.until(loop.time() + pause))
    flight.reading.add(timeout)
    try:
        async with timeout:
            while chunk := await request.content.readany():
                size += len(chunk)
                chunks.append(chunk)
                if size > limit:
                    return b"".join(chunks)[:TRUNCATED_KEEP], size, True, None
                timeout.reschedule(flight.until(loop.time() + pause))
    except TimeoutError:
        cut = "shutdown" if flight.deadline is not None and loop.time() >= flight.deadline else "timeout"
        return b"".join(chunks)[:TRUNCATED_KEEP], size, True, cut
    except HttpProcessingError as exc:
        if gone(request):  # it went away mid-body
            raise ConnectionResetError("the client closed the connection before its body was complete") from exc
        # the client is there: tell it what was wrong
        return b"".join(chunks)[:TRUNCATED_KEEP], size, True, exc.message or type(exc).__name__
    finally:
        flight.reading.discard(timeout)
    if request.content_length is not None and size < request.content_length:  # the stream ended early
        if gone(request):
            raise ConnectionResetError("the client closed the connection before its body was complete")
        return b"".join(chunks)[:TRUNCATED_KEEP], size, True, "the body ended before its Content-Length"
    return b"".join(chunks), size, False, None


def gone(request: web.BaseRequest) -> bool:
    """Whether the client has closed its connection (or it is being closed)."""
    return request.transport is None or request.transport.is_closing()
