"""Replay: send the requests of a plan to its target, paced, and report what it answered.

The decisions are pure and in the core: the plan (:mod:`sentry_mirror.core.replay.plan`),
the rewriting (:mod:`sentry_mirror.core.replay.rewrite`), rate limits as an SDK keeps them
(:mod:`sentry_mirror.core.ratelimits`) and the verdict on each answer
(:mod:`sentry_mirror.core.replay.results`). :func:`replay` is the sender around them, with
its own HTTP/1.1 client (:class:`sentry_mirror.io.http1.Client`): it sends only to the
target's URL, with bounded concurrency and an optional request rate, and returns once every
request is answered (or held back).
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sentry_mirror.core.envelope import ENVELOPE_ENDPOINTS
from sentry_mirror.core.ratelimits import RateLimits, record_categories
from sentry_mirror.core.record import format_time
from sentry_mirror.core.replay.fresh_ids import IdMap
from sentry_mirror.core.replay.plan import Pacing, Plan
from sentry_mirror.core.replay.results import Result
from sentry_mirror.core.replay.rewrite import NotReplayable, rewrite_request
from sentry_mirror.io.http1 import Client

#: How long before its scheduled time a request is rewritten and compressed (with ``sent_at``
#: the scheduled time), so that only the write is left for that time.
PREPARE_AHEAD = 0.003


async def replay(
    plan: Plan,
    pacing: Pacing | None = None,
    *,
    honour_rate_limits: bool = True,
    hold_whole: bool = False,
    on_result: Callable[[Result], None] = lambda _: None,
    on_skip: Callable[[str], None] = lambda _: None,
    ids: IdMap | None = None,
    stop: asyncio.Event | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Send every request of ``plan`` to its target; call ``on_result`` for each, in
    completion order. Returns when all are done; cancelling it (Ctrl-C) stops sending and
    abandons the requests in flight. Once ``stop`` is set, no other request is sent: it
    returns when those in flight are answered (or given up, at the client's timeout).

    ``hold_whole``: a request with any item the target's rate limits hold back is held back
    whole (``replay --undelivered``: it waits for the next run, none of it sent twice or lost).

    ``pacing.concurrency`` workers take the requests in order, each waits for its request's
    scheduled time, rewrites it (with the rate limits and the time of that moment) and sends
    it; records are read as they are needed."""
    pacing = pacing or plan.pacing
    requests = plan.timeline()
    first = next(requests, None)  # the clock starts once the first request is read (and the read-ahead filled)
    if first is None:
        return
    requests = itertools.chain([first], requests)
    sender = _Sender(
        plan,
        ids if ids is not None else (IdMap() if plan.options.fresh_ids else None),
        RateLimits() if honour_rate_limits else None,
        on_result,
        on_skip,
        pacing.speed is not None,
        hold_whole,
        stop,
        ssl_context,
    )
    workers = [asyncio.ensure_future(sender.work(requests)) for _ in range(max(1, pacing.concurrency))]
    try:
        await asyncio.gather(*workers)
    finally:
        for worker in workers:
            worker.cancel()
        sender.client.close()


class _Sender:
    """What the workers of one replay share: the client, the fresh ids, the rate limits the
    target asked for, and the start (loop time and wall clock) offsets count from."""

    def __init__(
        self,
        plan: Plan,
        ids: IdMap | None,
        limits: RateLimits | None,
        on_result: Callable[[Result], None],
        on_skip: Callable[[str], None],
        paced: bool,
        hold_whole: bool = False,
        stop: asyncio.Event | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        dsn = plan.target.dsn
        self.client = Client(dsn.scheme, dsn.host, dsn.port, ssl_context=ssl_context)
        self.target, self.options = plan.target, plan.options
        self.ids, self.limits = ids, limits
        self.on_result, self.on_skip = on_result, on_skip
        self.paced, self.hold_whole, self.stop = paced, hold_whole, stop
        self.loop = asyncio.get_running_loop()
        self.start_mono = self.loop.time()
        self.start_wall = datetime.now(UTC)

    async def work(self, requests: Iterator[tuple[Mapping[str, Any], float]]) -> None:
        loop, start, stop = self.loop, self.start_mono, self.stop
        while stop is None or not stop.is_set():
            taken = next(requests, None)  # shared by the workers: each takes the next one
            if taken is None:
                return
            data, offset = taken
            delay = start + offset - PREPARE_AHEAD - loop.time()
            if delay > 0 and await _stopped(stop, delay):
                return
            await self.send(data, offset)

    async def send(self, data: Mapping[str, Any], offset: float) -> None:
        """Rewrite the request a little before its time (:data:`PREPARE_AHEAD`), with
        ``sent_at`` the moment it is due, then send it when it is due."""
        loop = self.loop
        now = loop.time()
        due = self.start_mono + offset
        sent_at = self.start_wall + timedelta(seconds=max(now, due) - self.start_mono)
        limits = self.limits
        categories: tuple[str, ...] = ()
        held: frozenset[str] = frozenset()
        if limits is not None and limits.until:  # only once the target has asked to hold something back
            categories = record_categories(data)
            held = limits.limited(categories, now)
        envelope = data["endpoint"] in ENVELOPE_ENDPOINTS
        try:
            prepared = rewrite_request(
                data,
                self.target,
                self.options,
                ids=self.ids,
                sent_at=sent_at,
                hold_back=held if envelope else frozenset(),
            )
        except NotReplayable as exc:
            self.on_skip(str(exc))
            return
        result = Result(prepared, offset, sent_at=format_time(sent_at))
        if held:
            result.held_back = tuple(sorted(held))
            whole = self.hold_whole or held >= set(categories) - {"internal"}
            if whole or (envelope and not prepared.item_types):
                # everything it carries is rate-limited (an SDK would not send it at all), or held whole
                result.prepared = rewrite_request(data, self.target, self.options, ids=self.ids, sent_at=sent_at)
                self.on_result(result)
                return
        wait = due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            status, headers, body, written, size = await self.client.request(
                prepared.method, prepared.url, prepared.headers, prepared.body
            )
        except (TimeoutError, OSError, ValueError) as exc:
            result.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            result.latency_ms = (loop.time() - now) * 1000
        else:
            result.latency_ms = (loop.time() - written) * 1000
            if self.paced:
                result.late_ms = max(0.0, (written - self.start_mono - offset) * 1000)
            result.status, result.headers, result.body, result.body_size = status, headers, body, size
            if limits is not None and (status == 429 or any(k.lower() == "x-sentry-rate-limits" for k, _ in headers)):
                limits.update(status, {k.lower(): v for k, v in headers}, loop.time(), time.time())
            result.check_contract()
        self.on_result(result)


async def _stopped(stop: asyncio.Event | None, delay: float) -> bool:
    """Wait ``delay`` seconds, or until ``stop`` is set: whether it is."""
    if stop is None:
        await asyncio.sleep(delay)
        return False
    try:
        await asyncio.wait_for(stop.wait(), delay)
    except TimeoutError:
        return False
    return True
