"""Big request bodies are decoded off the event loop, within one memory budget for all.

The wire size says nothing about a compressed body (200 KB of gzip can hold 199 MiB), so
the decision goes by the decoded size:

- the event loop decodes at most :data:`INLINE_DECODED` bytes of any request: a small body
  (every SDK envelope) is understood right there, with the decoded size capped at that;
- a body that passes the cap, or arrives big, goes to a worker thread, which first finds
  its decoded size by decoding it in chunks that are dropped at once (bounded memory), then
  waits for its share of the :class:`DecodeBudget` (the bytes all big requests may hold
  decoded at once, first come first served), then is understood and recorded;
- past :data:`MAX_WAITING` requests waiting for the budget, a request is answered ``503``
  with ``Retry-After``, and recorded (most SDKs drop what gets a 503: docs/sdk-failure-behaviour.md).

A body that decodes to more than :data:`~sentry_mirror.core.record.KEEP_ENCODED_ABOVE` is
kept in its record as received, so it costs about its decoded size once (its big items are
views of it, core/envelope.py), not five times (chunks and their join, the items, the
record's text and JSON); the budget counts it twice, for margin.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import itertools
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from sentry_mirror.core import encoding, ingest, record
from sentry_mirror.errors import BodyTooLarge, DecodeError, UnsupportedEncoding

#: Decoded bytes the event loop produces for one request at most (about a millisecond).
INLINE_DECODED = 1 << 20
#: A body bigger than this on the wire goes to a worker without a try on the loop.
INLINE_WIRE = 1 << 20
#: Decoded bytes all requests in workers may hold at once (a single bigger one runs alone).
DEFAULT_BUDGET = 256 << 20
#: Requests waiting for the budget beyond which a request is answered 503.
MAX_WAITING = 32
#: Seconds a 503 for a full queue asks the SDK to wait.
RETRY_AFTER = 5
#: How much of the body of a request answered 503 is kept in its record.
KEEP_ON_503 = 64 * 1024

#: ``(request, config, wire size, truncated, remote address) -> (response, record)``
Understand = Callable[[ingest.Request, ingest.Config, int, bool, "str | None"], tuple[ingest.Response, dict[str, Any]]]


class DecodeBudget:
    """Bytes of decoded bodies held at once, across requests, handed out in arrival order.

    A request asks for :func:`cost` of its decoded size; one that asks for more than the
    whole budget gets all of it, alone. No request holds part while waiting for more, so
    nothing deadlocks.
    """

    def __init__(self, limit: int = DEFAULT_BUDGET) -> None:
        self.limit = limit
        self.used = 0
        self.peak = 0  # the most held at once (for tests and benchmarks)
        self._queue: collections.deque[int] = collections.deque()
        self._tickets = itertools.count()
        self._changed: asyncio.Condition | None = None

    @property
    def waiting(self) -> int:
        return len(self._queue)

    @contextlib.asynccontextmanager
    async def hold(self, size: int) -> AsyncIterator[None]:
        take = min(max(size, 0), self.limit)
        if self._changed is None:
            self._changed = asyncio.Condition()
        changed, ticket = self._changed, next(self._tickets)
        self._queue.append(ticket)
        try:
            async with changed:
                await changed.wait_for(lambda: self._queue[0] == ticket and self.used + take <= self.limit)
                self.used += take
                self.peak = max(self.peak, self.used)
        finally:
            self._queue.remove(ticket)
            async with changed:
                changed.notify_all()
        try:
            yield
        finally:
            self.used -= take
            async with changed:
                changed.notify_all()


def cost(size: int) -> int:
    """Bytes in memory at once to understand and record a body of ``size`` decoded bytes
    (with margin: a body kept encoded measured about once its size; one stored decoded is
    held as bytes, text and JSON)."""
    return 2 * size if size > record.KEEP_ENCODED_ABOVE else 5 * size


def _codec(incoming: ingest.Request) -> tuple[bool, str | None]:
    """(whether the encoding is accepted, the codec or None for identity)."""
    try:
        return True, encoding.normalize_encoding(incoming.header("content-encoding"))
    except UnsupportedEncoding:
        return False, None


_last_capped: tuple[ingest.Config | None, ingest.Config | None] = (None, None)


def _capped(config: ingest.Config) -> ingest.Config:
    """``config`` with the decoded size capped at :data:`INLINE_DECODED` (made once: a
    listener has one config, and hashing it per request cost a microsecond)."""
    global _last_capped
    seen, capped = _last_capped
    if seen is not config or capped is None:
        capped = dataclasses.replace(config, max_body=min(config.max_body, INLINE_DECODED))
        _last_capped = (config, capped)
    return capped


def _decoded_size(codec: str | None, body: bytes, limit: int) -> int:
    try:
        return encoding.decoded_size(codec, body, max_size=limit)
    except BodyTooLarge:
        return encoding.LEAN_ABOVE  # decode gives up there too
    except DecodeError:
        return len(body)


async def understand(
    work: Understand,
    budget: DecodeBudget,
    incoming: ingest.Request,
    config: ingest.Config,
    wire_size: int,
    truncated: bool,
    remote: str | None,
) -> tuple[ingest.Response, dict[str, Any]]:
    """``work``'s answer and record for one request, on the loop or in a worker (see the module)."""
    accepted, codec = _codec(incoming)
    if truncated or not accepted or (codec is None and wire_size <= INLINE_WIRE):
        return work(incoming, config, wire_size, truncated, remote)
    if codec is not None and wire_size <= INLINE_WIRE:
        response, entry = work(incoming, _capped(config), wire_size, truncated, remote)
        if entry["body_decoded"] or config.max_body <= INLINE_DECODED:
            return response, entry
    if budget.waiting >= MAX_WAITING:
        return _busy(incoming, config, wire_size, remote)
    size = await asyncio.to_thread(_decoded_size, codec, incoming.body, config.max_body)
    async with budget.hold(cost(size)):
        job = asyncio.ensure_future(asyncio.to_thread(work, incoming, config, wire_size, truncated, remote))
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:
            await asyncio.wait([job])  # a thread cannot be stopped: its share is held until it ends
            raise


def _busy(
    incoming: ingest.Request, config: ingest.Config, wire_size: int, remote: str | None
) -> tuple[ingest.Response, dict[str, Any]]:
    """The 503 for a request that finds the queue for the budget full (recorded, with the
    start of its body)."""
    detail = f"the mirror is busy decoding {MAX_WAITING} large bodies: retry in {RETRY_AFTER} s"
    answer = ingest.error_response(503, detail)
    answer.headers = (("Retry-After", str(RETRY_AFTER)), *answer.headers)
    kept = incoming.body[:KEEP_ON_503]
    outcome = ingest.Outcome(
        response=answer,
        endpoint=ingest.route(incoming.method, incoming.path, config.tunnel_path)[0],
        body=kept,
        decoded=False,
        error=detail,
    )
    entry = record.build(
        dataclasses.replace(incoming, body=kept),
        outcome,
        received_at=datetime.now(UTC),
        remote_addr=remote,
        wire_size=wire_size,
        truncated=len(kept) < wire_size,
    )
    return answer, entry
