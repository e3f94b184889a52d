"""Scripted answers in the listener (``listen --script``/``--scenario``, docs/scripts.md).

The server builds the natural answer and the record as always, then asks
:meth:`Scripting.answer`: a scripted answer replaces the natural one in what is sent and
in the record's ``response``, and the record gets ``scripted`` (the rule, its source, the
natural status, the delay, drop, partial). The record is written first; then, once the
server has let go of the request's body and record, :class:`Then` waits out the delay
(cut when the client goes away, and when the listener stops and its grace period ends)
and, for a drop, closes the connection without an answer. At most :data:`MAX_DELAYED`
answers wait at once: more are sent without their delay, and their record says so."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any, Protocol

from aiohttp import web

from sentry_mirror.core import ingest, record
from sentry_mirror.core.script import Decision, Engine, Facts, Script
from sentry_mirror.io.body import gone


class _Flight(Protocol):
    """The server's requests in flight (io/server.py): timeouts cut when the listener stops."""

    reading: set[asyncio.Timeout]

    def until(self, moment: float) -> float: ...


#: What the record's ``response`` says for a dropped connection: nothing was sent.
DROPPED: dict[str, Any] = {"status": 0, "headers": [], "body": "", "body_base64": False}
#: How many answers may wait out their delay at once; more are sent at once (each holds a
#: connection and a task while it waits).
MAX_DELAYED = 1024
#: How often a waiting answer looks whether its client is still there, in seconds.
STEP = 0.5


class Scripting:
    """The engine of a listener, its clock (seconds since the listener was made), and how
    many answers are waiting out a delay (at most ``max_delayed``)."""

    def __init__(self, script: Script, max_delayed: int = MAX_DELAYED) -> None:
        self.script = script
        self.engine = Engine(script)
        self.started = time.monotonic()
        self.max_delayed = max_delayed
        self.delayed = 0

    def replace(self, script: Script) -> None:
        """Answer by ``script`` from now on (its clock starts now); answers already waiting
        keep their delay. Called on the listener's event loop (``sentry_mirror.testing``)."""
        self.script = script
        self.engine = Engine(script)
        self.started = time.monotonic()

    def answer(
        self, method: str, natural: ingest.Response, entry: dict[str, Any], flight: _Flight, request: web.BaseRequest
    ) -> tuple[ingest.Response, Then | None]:
        """What to send for the request ``entry`` records (SDK requests only: not the web
        API's, not a CORS preflight), and what to do once it is on disk (:class:`Then`);
        ``entry`` is changed to record the scripted answer."""
        decision = self.decide(method, entry)
        if decision is None:
            return natural, None
        note = None
        if decision.delay > 0 and self.delayed >= self.max_delayed:
            note = f"sent without its delay: {self.delayed} answers were already waiting (the most at once)"
            decision = dataclasses.replace(decision, delay=0.0)
        sent = _record(decision, natural, entry, note)
        if decision.delay <= 0 and not decision.drop:
            return sent, None
        return sent, Then(self, flight, request, decision)

    def decide(self, method: str, entry: dict[str, Any]) -> Decision | None:
        """The engine's decision for the request ``entry`` records, now."""
        endpoint = entry["endpoint"]
        if method == "OPTIONS" or endpoint.startswith("api_") or endpoint == "upload":
            return None
        summary = entry.get("summary") or {}
        facts = Facts(
            endpoint,
            tuple([str(item.get("type")) for item in summary.get("items") or ()]),
            entry.get("project_id"),
            summary.get("sdk"),
            entry.get("body_size") or 0,
            entry["response"]["status"],
            tuple(summary.get("items") or ()),
        )
        return self.engine.decide(facts, time.monotonic() - self.started)


def _record(decision: Decision, natural: ingest.Response, entry: dict[str, Any], note: str | None) -> ingest.Response:
    """The answer to send, written into ``entry`` (``response`` and ``scripted``, with
    ``note`` when the delay was not kept)."""
    sent = _sent(decision, natural)
    if decision.drop:
        entry["response"] = dict(DROPPED)
    else:
        body, is_base64 = record.encode_bytes(sent.body)
        entry["response"] = {
            "status": sent.status,
            "headers": list(sent.headers),
            "body": body,
            "body_base64": is_base64,
        }
    entry["scripted"] = {
        "rule": decision.rule.name,
        "source": decision.rule.source,
        "natural": {"status": natural.status},
        "delay_ms": round(decision.delay * 1000),
        "drop": decision.drop,
        "partial": decision.partial,
    }
    if note is not None:
        entry["scripted"]["note"] = note
    return sent


def _sent(decision: Decision, natural: ingest.Response) -> ingest.Response:
    """The scripted answer; for ``status`` None the natural one with the decision's headers."""
    if decision.status is not None:
        return ingest.Response(decision.status, decision.headers, decision.body or b"")
    names = {name.lower() for name, _ in decision.headers}
    kept = tuple(header for header in natural.headers if header[0].lower() not in names)
    return ingest.Response(natural.status, (*decision.headers, *kept), natural.body)


class Then:
    """What to do once the record is on disk and the server holds no more of the request
    than its connection: wait the delay, then for a drop close the connection unanswered.

    It holds a place among :attr:`Scripting.delayed` from its making until it has run or
    is cancelled (the server could not answer)."""

    def __init__(self, scripting: Scripting, flight: _Flight, request: web.BaseRequest, decision: Decision) -> None:
        self.scripting, self.flight, self.request = scripting, flight, request
        self.delay, self.drop = decision.delay, decision.drop
        self.waiting = self.delay > 0
        if self.waiting:
            scripting.delayed += 1

    async def __call__(self) -> None:
        try:
            if self.waiting:
                await _wait(self.flight, self.request, self.delay)
        finally:
            self.cancel()
        if self.drop:
            self.request.protocol.force_close()
            if self.request.transport is not None:
                self.request.transport.close()

    def disarm(self) -> None:
        """Neither wait nor drop: the answer is not the scripted one (storage failed: 503 now)."""
        self.cancel()
        self.drop = False

    def cancel(self) -> None:
        """Give back its place among the delayed (once)."""
        if self.waiting:
            self.waiting = False
            self.scripting.delayed -= 1


async def _wait(flight: _Flight, request: web.BaseRequest, delay: float) -> None:
    """Wait ``delay`` seconds, less when the client goes away or the stopping listener's
    grace period ends first."""
    loop = asyncio.get_running_loop()
    timeout = asyncio.timeout_at(flight.until(loop.time() + delay))
    flight.reading.add(timeout)  # a stopping listener moves it to the end of its grace period
    try:
        async with timeout:
            while not gone(request):
                await asyncio.sleep(STEP)
    except TimeoutError:
        pass
    finally:
        flight.reading.discard(timeout)
