"""Forward mode in the listener (``listen --forward``, ``--tee``): after a request is
recorded, it is offered to the candidates and sent on to the upstream, whose answer the SDK
gets; every answer is recorded beside the request (docs/forward.md).

:class:`Forwarding` is what the server holds: the upstream's :class:`Sender`, the
candidates (:mod:`sentry_mirror.io.tee`), the ``--upstream-failure`` mode, and what
became of every request (a :class:`Tally` per server). Answer records are handed to the
recorder without waiting for them (they are on disk before it closes); what became of
them is looked at in batches (:data:`SWEEP`), not by a callback each.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sentry_mirror.core.forwarding import Destination, Reply, answer_record, destination, sdk_answer
from sentry_mirror.core.ingest import Response
from sentry_mirror.errors import SnapshotError
from sentry_mirror.io.forward import ForwardOptions, Sender, Tally, tls_context
from sentry_mirror.io.recorder import LOG_INTERVAL, Recorder
from sentry_mirror.io.tee import Candidate

log = logging.getLogger(__name__)

#: Answer records handed to the recorder between two looks at what became of them (a done
#: callback on each cost a loop turn's handle per request); :attr:`Forwarding.answers` looks at once.
SWEEP = 64


def destinations(options: ForwardOptions) -> tuple[Destination | None, tuple[Destination, ...]]:
    """Where ``options`` send requests on: the upstream (None: none) and the candidates
    (``--tee``), the one rule of the listener and of ``listen --workers``' banner."""
    upstream = destination(options.upstream, "upstream") if options.upstream else None
    return upstream, tuple(destination(dsn, "candidate") for dsn in options.tee)


class Forwarding:
    """The servers a listener sends requests on to (see the module docstring)."""

    def __init__(self, options: ForwardOptions, recorder: Recorder, marker: str | None = None) -> None:
        self.recorder = recorder
        self.failure = options.failure
        upstream, candidates = destinations(options)
        wanted = [upstream, *candidates] if upstream is not None else list(candidates)
        context = tls_context(options.ca_file) if any(d.dsn.scheme == "https" for d in wanted) else None
        #: this listener's mark in the ``Via`` header of what it sends on (see :meth:`looped`)
        self.marker = marker or f"sentry-mirror-{secrets.token_hex(8)}"  # one for all --workers
        senders = [
            Sender(
                where,
                timeout=options.timeout,
                concurrency=options.concurrency,
                ssl_context=context,
                via=f"1.1 {self.marker}",
            )
            for where in wanted
        ]
        first = 1 if options.upstream else 0
        self.upstream: Destination | None = wanted[0] if first else None
        self.sender = senders[0] if first else None
        self.tally = Tally(wanted[0].to, "upstream") if first else None
        self.candidates = [Candidate(sender, options.tee_queue, self.record) for sender in senders[first:]]
        self.unrecorded = 0  # requests sent on whose record could not be written
        self._answers = 0  # answer records written
        self._lost_answers = 0  # answer records that could not be written
        self._pending: list[asyncio.Future[None]] = []  # answer records handed to the recorder
        self._next_sweep = SWEEP  # how many pending make the next sweep (see _sweep)
        self._last_log = -LOG_INTERVAL
        self.failures = 0  # upstream failures since the last warning about them
        self._last_failure_log = -LOG_INTERVAL

    @property
    def answers(self) -> int:
        """Answer records written so far."""
        self._sweep()
        return self._answers

    @property
    def answers_lost(self) -> int:
        """Answer records that could not be written so far."""
        self._sweep()
        return self._lost_answers

    @property
    def tallies(self) -> list[Tally]:
        """What became of the requests, per server: the upstream first."""
        return ([self.tally] if self.tally is not None else []) + [c.tally for c in self.candidates]

    def looped(self, headers: Iterable[tuple[str, str]]) -> bool:
        """Whether a request came back to this listener: it carries the ``Via`` mark it puts
        on what it sends on (a --forward or --tee naming this listener by another address,
        or two mirrors forwarding to each other). Sent on, it would come back for ever."""
        marker = self.marker
        return any(len(name) == 3 and name.lower() == "via" and marker in value for name, value in headers)

    def offer(self, entry: dict[str, Any], wire: bytes) -> None:
        """A copy of the recorded request ``entry`` to every candidate (never waits)."""
        for candidate in self.candidates:
            candidate.offer(entry, wire)

    async def relay(
        self, entry: dict[str, Any], wire: bytes, local: Response, *, recorded: bool
    ) -> tuple[Response, dict[str, Any]]:
        """Send ``entry`` on to the upstream: (what the SDK gets, the upstream's answer record).

        ``local`` is the mirror's own answer, given on an upstream failure in ``answer`` mode.
        A request whose record could not be written (``recorded`` false) gets the upstream's
        answer, or ``local`` (the 503) when the upstream failed too; its answer is not recorded."""
        assert self.sender is not None and self.upstream is not None and self.tally is not None
        try:
            reply = await self.sender.forward(entry, wire)
        except asyncio.CancelledError:  # the listener stopped (after its grace) before the answer came
            stopped = Reply(None, error="not answered: the listener stopped before the upstream answered")
            if recorded:  # in pass mode the SDK gets a 504 standing for it (io/server.py)
                answered = answer_record(
                    entry, self.upstream, stopped, datetime.now(UTC), returned=self.failure == "pass"
                )
                self.record(answered, self.tally)
            raise
        if not reply.usable:
            self._failed(reply)
        response, returned = sdk_answer(reply, local, self.failure if recorded else "answer")
        answered = answer_record(entry, self.upstream, reply, datetime.now(UTC), returned=returned)
        if recorded:
            self.record(answered, self.tally)
        else:
            self.tally.count(answered)
            self.unrecorded += 1
            self.warn("a request was sent on without being recorded (the snapshot cannot be written)")
        return response, answered

    def record(self, answered: dict[str, Any], tally: Tally) -> None:
        """Count the answer record ``answered`` and hand it to the recorder (not waited for)."""
        tally.count(answered)
        try:
            self._pending.append(self.recorder.submit(answered))
        except SnapshotError as exc:
            self._lost(exc)
            return
        if len(self._pending) >= self._next_sweep:
            self._sweep()

    def _sweep(self) -> None:
        """Count the answer records the recorder is done with (written, or lost: warned about)."""
        waiting = []
        for future in self._pending:
            if not future.done():
                waiting.append(future)
            elif future.cancelled():
                self._lost(None)
            elif (exc := future.exception()) is not None:
                self._lost(exc)
            else:
                self._answers += 1
        self._pending = waiting
        # the next sweep when as many more have come: the work stays constant per record even
        # when many are still being written (a slow disk)
        self._next_sweep = len(waiting) + SWEEP

    def _failed(self, reply: Reply) -> None:
        """Log an upstream failure, at most once per :data:`LOG_INTERVAL` (with how many)."""
        self.failures += 1
        now = time.monotonic()
        if now - self._last_failure_log >= LOG_INTERVAL:
            assert self.upstream is not None
            log.warning(
                "the upstream %s failed %d time(s) since the last warning; the last: %s",
                self.upstream.to,
                self.failures,
                reply.error or f"status {reply.status}",
            )
            self._last_failure_log, self.failures = now, 0

    def _lost(self, exc: BaseException | None) -> None:
        self._lost_answers += 1
        self.warn(f"an answer record could not be written: {exc or 'cancelled'}")

    def warn(self, message: str, *, counts: bool = True) -> None:
        """Log ``message`` at most once per :data:`LOG_INTERVAL` (with the counts of what
        could not be recorded so far, when ``counts``)."""
        now = time.monotonic()
        if now - self._last_log >= LOG_INTERVAL:
            self._last_log = now
            if not counts:
                log.warning("%s", message)
                return
            log.warning(
                "%s (%d request(s) unrecorded, %d answer record(s) lost so far)",
                message,
                self.unrecorded,
                self._lost_answers,
            )

    async def close(self, grace: float) -> None:
        """Give the candidates' queues ``grace`` seconds to drain, then close every connection
        (and say how often the upstream failed since the last warning about it)."""
        if self.failures and self.upstream is not None:
            log.warning("the upstream %s failed %d more time(s) before the stop", self.upstream.to, self.failures)
            self.failures = 0
        await asyncio.gather(*(candidate.close(grace) for candidate in self.candidates))
        if self.sender is not None:
            self.sender.close()
