"""Sending recorded requests on to a server (the upstream, a candidate): the HTTP side.

One :class:`Sender` per server: an :class:`~sentry_mirror.io.http1.Client` (kept-alive
connections, one request each at a time), at most ``concurrency`` requests in flight (more
wait for a slot), each given up after ``timeout`` seconds. HTTPS is verified against the
system's certificate store, plus the CA certificates of ``--ca-file``; verification is
never turned off. What the server answered, or why it did not, comes back as a
:class:`~sentry_mirror.core.forwarding.Reply`; nothing here raises for a server's failure.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import ssl
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentry_mirror.core.forwarding import ANSWER_CAP, Destination, Reply, prepare
from sentry_mirror.core.replay.rewrite import NotReplayable, Prepared
from sentry_mirror.errors import MirrorError
from sentry_mirror.io.http1 import Client

log = logging.getLogger(__name__)

#: Requests with a body (on the wire or decoded) over this are rewritten in a worker thread.
THREAD_THRESHOLD = 256 * 1024
#: Threads for those rewrites, all servers together: a pool of their own, so that a flood of
#: big copies for the candidates never queues ahead of the recorder's writes (which use the
#: loop's default pool, and which every SDK answer waits for).
REWRITE_THREADS = 2
_pool: concurrent.futures.ThreadPoolExecutor | None = None


def _rewriters() -> concurrent.futures.ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = concurrent.futures.ThreadPoolExecutor(REWRITE_THREADS, thread_name_prefix="sentry-mirror-rewrite")
    return _pool


def tls_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """The system's certificate store, plus the certificates in ``ca_file`` (PEM)."""
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise MirrorError(f"--ca-file {ca_file}: cannot load CA certificates from it: {exc}") from None
    return context


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Slots:
    """At most ``count`` requests in flight; the others wait their turn, first come first
    served. Taking a free slot is a plain count (``asyncio.Semaphore`` scans its waiters
    twice per request to tell whether it is locked)."""

    def __init__(self, count: int) -> None:
        self.free = count
        self._waiting: deque[asyncio.Future[None]] = deque()

    def take(self) -> bool:
        """Take a free slot at once; False when there is none (or others wait for one)."""
        if self.free > 0 and not self._waiting:
            self.free -= 1
            return True
        return False

    async def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a slot; whether one was taken."""
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            async with asyncio.timeout(timeout):
                await turn
        except TimeoutError:
            return turn.done() and not turn.cancelled()  # handed over just as the time ran out
        except BaseException:  # cancelled: a slot handed over meanwhile goes to the next
            if turn.done() and not turn.cancelled():
                self.release()
            raise
        return True

    def release(self) -> None:
        """Give a slot back: to the first request still waiting, else to the free ones."""
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.free += 1


class Sender:
    """Sends prepared requests to one server (see the module docstring)."""

    def __init__(
        self,
        where: Destination,
        *,
        timeout: float,
        concurrency: int,
        ssl_context: ssl.SSLContext | None = None,
        via: str | None = None,
    ) -> None:
        dsn = where.dsn
        self.where = where
        self.timeout = timeout
        #: the ``Via`` header this listener adds, so a request that comes back to it is seen
        self.via: tuple[tuple[str, str], ...] = (("Via", via),) if via else ()
        # one byte over the cap tells an answer that is too big from one that just fits
        self.client = Client(
            dsn.scheme,
            dsn.host,
            dsn.port,
            timeout=timeout,
            ssl_context=ssl_context if dsn.scheme == "https" else None,
            keep_bytes=ANSWER_CAP + 1,
        )
        self._slots = Slots(max(1, concurrency))

    async def forward(self, entry: dict[str, Any], wire: bytes) -> Reply:
        """The recorded request ``entry`` (with its ``wire`` body) rewritten for this server and
        sent; what came back. One that cannot be rewritten is not sent: the reply says why."""
        try:
            if len(wire) > THREAD_THRESHOLD or entry.get("body_size", 0) > THREAD_THRESHOLD:
                # a big body's rewrite (decoding, compressing again) must not stall the loop
                # that answers every other SDK request
                loop = asyncio.get_running_loop()
                prepared = await loop.run_in_executor(_rewriters(), prepare, entry, self.where, wire)
            else:
                prepared = prepare(entry, self.where, wire)
        except NotReplayable as exc:
            return Reply(None, error=f"not sent: {exc}")
        except Exception as exc:  # a bug in the rewrite: this request only
            log.exception("a request could not be rewritten for %s", self.where.to)
            return Reply(None, error=f"not sent: {type(exc).__name__}: {exc}")
        try:
            return await self.send(prepared)
        except Exception as exc:  # a bug in the client: this request only
            log.exception("a request could not be sent to %s", self.where.to)
            return Reply(None, error=f"{type(exc).__name__}: {exc}")

    async def send(self, prepared: Prepared) -> Reply:
        """Send ``prepared``; the server's answer, or why there is none (never raises for that)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        slots = self._slots
        # every slot taken: waiting for one counts against the timeout too
        if not slots.take() and not await slots.wait(self.timeout):
            error = f"not sent: no free connection within {self.timeout:g} s"
            return Reply(None, latency_ms=(loop.time() - started) * 1000, error=error, timed_out=True)
        try:
            status, headers, body, written, size = await self.client.request(
                prepared.method, prepared.url, prepared.headers + self.via, prepared.body
            )
        except TimeoutError:
            error = f"no answer within {self.timeout:g} s"
            return Reply(None, latency_ms=(loop.time() - started) * 1000, error=error, timed_out=True)
        except (OSError, ValueError) as exc:  # refused, reset, TLS, not HTTP, a header it cannot send
            return Reply(None, error=_describe(exc))
        finally:
            slots.release()
        latency = (loop.time() - written) * 1000
        if size > ANSWER_CAP:
            error = f"the answer's body is over {ANSWER_CAP} bytes ({size}): not passed on"
            return Reply(status, headers, body[:ANSWER_CAP], size, latency, error)
        return Reply(status, headers, body, size, latency)

    def close(self) -> None:
        self.client.close()


@dataclass
class Tally:
    """What became of the requests sent on to one server, for the listener's stop line."""

    to: str
    kind: str
    delivered: int = 0
    undelivered: int = 0
    dropped: int = 0

    def count(self, record: dict[str, object]) -> None:
        """Count the answer record ``record``."""
        if record["dropped"]:
            self.dropped += 1
        elif record["delivered"]:
            self.delivered += 1
        else:
            self.undelivered += 1


@dataclass(frozen=True)
class ForwardOptions:
    """``listen --forward`` and its companions (docs/forward.md)."""

    upstream: str | None = None  # the upstream's DSN
    tee: tuple[str, ...] = ()  # the candidates' DSNs
    failure: str = "answer"  # --upstream-failure
    timeout: float = 10.0
    concurrency: int = 64
    tee_queue: int = 1000
    ca_file: Path | None = None
