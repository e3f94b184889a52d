"""Scripted answers in the listener (``listen --script``/``--scenario``, docs/scripts.md).

The server builds the natural answer and the record as always, then asks
:meth:`Scripting.answer`: a scripted answer replaces the natural one in what is sent and
in the record's ``response``, and the record gets ``scripted`` (the rule, its source, the
natural status, the delay, drop, partial). The record is written first; then
:func:`settle` waits out the delay (cut when the listener stops and its grace period
ends) and, for a drop, closes the connection without an answer."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from sentry_mirror.core import ingest, record
from sentry_mirror.core.script import Decision, Engine, Facts, Script


class _Flight(Protocol):
    """The server's requests in flight (io/server.py): timeouts cut when the listener stops."""

    reading: set[asyncio.Timeout]

    def until(self, moment: float) -> float: ...


#: What the record's ``response`` says for a dropped connection: nothing was sent.
DROPPED: dict[str, Any] = {"status": 0, "headers": [], "body": "", "body_base64": False}


class Scripting:
    """The engine of a listener, and its clock (seconds since the listener was made)."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.engine = Engine(script)
        self.started = time.monotonic()

    def answer(
        self, method: str, natural: ingest.Response, entry: dict[str, Any], flight: _Flight, request: web.BaseRequest
    ) -> tuple[ingest.Response, Callable[[], Awaitable[None]] | None]:
        """What to send for the request ``entry`` records (SDK requests only: not the web
        API's, not a CORS preflight), and what to do once it is on disk (:func:`settle`);
        ``entry`` is changed to record the scripted answer."""
        decision = self.decide(method, entry)
        if decision is None:
            return natural, None
        return _record(decision, natural, entry), functools.partial(settle, flight, request, decision)

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


def _record(decision: Decision, natural: ingest.Response, entry: dict[str, Any]) -> ingest.Response:
    """The answer to send, written into ``entry`` (``response`` and ``scripted``)."""
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
    return sent


def _sent(decision: Decision, natural: ingest.Response) -> ingest.Response:
    """The scripted answer; for ``status`` None the natural one with the decision's headers."""
    if decision.status is not None:
        return ingest.Response(decision.status, decision.headers, decision.body or b"")
    names = {name.lower() for name, _ in decision.headers}
    kept = tuple(header for header in natural.headers if header[0].lower() not in names)
    return ingest.Response(natural.status, (*decision.headers, *kept), natural.body)


async def settle(flight: _Flight, request: web.BaseRequest, decision: Decision) -> None:
    """Once the record is on disk: wait the delay (at most until the grace period of a
    stopping listener ends), then for a drop close the connection with no answer."""
    if decision.delay > 0:
        loop = asyncio.get_running_loop()
        timeout = asyncio.timeout(flight.until(loop.time() + decision.delay))
        flight.reading.add(timeout)  # a stopping listener moves it to the end of its grace period
        try:
            async with timeout:
                await asyncio.sleep(decision.delay)
        except TimeoutError:
            pass
        finally:
            flight.reading.discard(timeout)
    if decision.drop:
        request.protocol.force_close()
        if request.transport is not None:
            request.transport.close()
