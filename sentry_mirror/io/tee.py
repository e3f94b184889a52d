"""``listen --tee``: shadow copies of every request to candidate servers, never slowing the SDK.

Each candidate has a bounded queue and a few workers that rewrite each request for it and
send it (:meth:`Sender.forward`). Offering a copy never waits: when a candidate's queue is
full (it fell behind), the copy is dropped, counted and recorded (an answer record with
``dropped: true``, ``error: "queue full"``).
Every copy gets an answer record: what the candidate answered, why it did not, or that it
was dropped; on close the queues get the grace period to drain and what is left is
recorded as dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sentry_mirror.core.forwarding import Reply, answer_record
from sentry_mirror.io.forward import Sender, Tally

log = logging.getLogger(__name__)

#: Requests in flight to one candidate at most (each worker sends one at a time).
WORKERS = 16
#: Bytes (the wire body and the record's body text) held for one candidate at most, queued
#: or being sent, whatever the queue's length.
QUEUE_BYTES = 256 << 20

Emit = Callable[[dict[str, Any], Tally], None]
_Queued = tuple[dict[str, Any], bytes, int]


class Candidate:
    """One candidate server: its queue, its workers and its tally."""

    def __init__(self, sender: Sender, size: int, emit: Emit) -> None:
        self.sender = sender
        self.where = sender.where
        self.tally = Tally(self.where.to, self.where.kind)
        self.queue: asyncio.Queue[_Queued] = asyncio.Queue(maxsize=max(1, size))
        self.queued_bytes = 0
        self.unfinished = 0  # queued or being sent
        self._emit = emit
        self._workers = [asyncio.ensure_future(self._work()) for _ in range(WORKERS)]

    def offer(self, entry: dict[str, Any], wire: bytes) -> None:
        """Queue a copy of ``entry``; drop it (recorded) when the queue is full. Never waits."""
        body = entry.get("body")
        weight = len(wire) + (len(body) if isinstance(body, str) else 0)  # base64 text counted as it is
        if self.queued_bytes and self.queued_bytes + weight > QUEUE_BYTES:  # one copy always fits
            self._drop(entry, "queue full")
            return
        try:
            self.queue.put_nowait((entry, wire, weight))
        except asyncio.QueueFull:
            self._drop(entry, "queue full")
            return
        self.queued_bytes += weight
        self.unfinished += 1

    def _drop(self, entry: dict[str, Any], why: str) -> None:
        self._emit(
            answer_record(entry, self.where, Reply(None, error=why), datetime.now(UTC), dropped=True), self.tally
        )

    async def _work(self) -> None:
        queue = self.queue
        while True:
            entry, wire, weight = await queue.get()
            try:
                reply = await self.sender.forward(entry, wire)
            except asyncio.CancelledError:
                reply = Reply(None, error="no answer: the listener stopped first")
                self._emit(answer_record(entry, self.where, reply, datetime.now(UTC)), self.tally)
                raise
            finally:
                self.queued_bytes -= weight  # held until sent: the workers' copies count too
                self.unfinished -= 1
                queue.task_done()
            self._emit(answer_record(entry, self.where, reply, datetime.now(UTC)), self.tally)

    async def close(self, grace: float) -> None:
        """Let the queue drain for at most ``grace`` seconds; then stop the workers (their
        requests in flight are recorded without an answer) and record what is left as dropped."""
        if self.unfinished:
            try:
                await asyncio.wait_for(self.queue.join(), max(grace, 0.0))
            except TimeoutError:
                log.warning("candidate %s: %d request(s) unfinished at the end", self.where.to, self.unfinished)
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        while not self.queue.empty():
            entry, _, _ = self.queue.get_nowait()
            self._drop(entry, "not sent: the listener stopped first")
        self.sender.close()
