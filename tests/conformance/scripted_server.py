"""A real aiohttp server on 127.0.0.1 port 0 that answers Sentry envelopes as scripted.

The first ``failures`` POSTs that carry an event (an ``event`` item: the error in hand;
the sessions an SDK sends on start do not count) get the scripted answer, a status and
headers as Relay sends them on a rate limit, an outage or an oversized envelope; every
other POST gets Relay's ``200 {"id": ...}``. Every request is kept, its body decoded
(aiohttp undoes the Content-Encoding), with the wall-clock time it was answered, so a
test can tell what a real SDK sent, and when, after a failure. CORS is answered as Relay
answers it (the browser SDK can only read ``Retry-After`` and ``X-Sentry-Rate-Limits``
because Relay exposes them).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sentry_mirror.core import envelope

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "x-sentry-error, x-sentry-rate-limits, retry-after",
}
PREFLIGHT = {
    "Access-Control-Allow-Methods": "POST",
    "Access-Control-Allow-Headers": "x-sentry-auth, x-requested-with, origin, referer, accept, content-type, "
    "authentication, authorization, content-encoding, transfer-encoding",
    "Access-Control-Max-Age": "3600",
}


@dataclass(frozen=True)
class Answer:
    """What the server answers to the first requests (Relay's JSON error body)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    detail: str = "scripted failure"


@dataclass
class Seen:
    """One POST as the server received it (the body decoded) and the status it answered."""

    at: float
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    def items(self) -> list[tuple[str, dict[str, Any], Any]]:
        """(type, item header, parsed payload) for every item; attachments as bytes."""
        out = []
        for item in envelope.parse(self.body).items:
            payload = item.payload if item.type == "attachment" else item.json()
            out.append((item.type, dict(item.headers), payload))
        return out

    def event_ids(self) -> list[str]:
        """The ids of the events and transactions in this envelope."""
        return [p["event_id"] for t, _, p in self.items() if t in ("event", "transaction")]

    def span_ids(self) -> list[str]:
        """The ids of the spans in this envelope's ``span`` items (the span stream)."""
        return [span["span_id"] for t, _, p in self.items() if t == "span" for span in p["items"]]

    def discarded(self) -> list[tuple[str, str, int]]:
        """The (reason, category, quantity) of every client report in this envelope."""
        return [
            (d["reason"], d["category"], d["quantity"])
            for t, _, p in self.items()
            if t == "client_report"
            for d in p.get("discarded_events", [])
        ]


def _has_event(body: bytes) -> bool:
    try:
        return "event" in {item.type for item in envelope.parse(body).items}
    except Exception:  # not an envelope: count it as one
        return True


class ScriptedServer:
    """Answers the first ``failures`` POSTs with an event with ``answer``, everything else 200."""

    def __init__(self, answer: Answer, failures: int = 1) -> None:
        self.answer = answer
        self.failures = failures
        self.seen: list[Seen] = []
        self.failed = 0
        self.preflights = 0
        self.port = 0

    def dsn(self, key: str = "mirror", project: int = 1) -> str:
        return f"http://{key}@127.0.0.1:{self.port}/{project}"

    def posts(self, status: int | None = None) -> list[Seen]:
        return [s for s in self.seen if status is None or s.status == status]

    async def handle(self, request: web.Request) -> web.Response:
        if request.method == "OPTIONS":
            self.preflights += 1
            return web.Response(status=200, headers={**CORS, **PREFLIGHT})
        body = await request.read()  # aiohttp undoes gzip, deflate and br itself
        if self.failed < self.failures and _has_event(body):
            self.failed += 1
            status, headers = self.answer.status, dict(self.answer.headers)
            text = json.dumps({"detail": self.answer.detail})
        else:
            status, headers = 200, {}
            event_id = json.loads(body.split(b"\n", 1)[0] or b"{}").get("event_id")
            text = json.dumps({"id": event_id.replace("-", "")} if event_id else {})
        self.seen.append(Seen(time.time(), request.path_qs, dict(request.headers), body, status))
        return web.Response(status=status, text=text, content_type="application/json", headers={**CORS, **headers})


@asynccontextmanager
async def scripted_server(answer: Answer, failures: int = 1) -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer(answer, failures)
    app = web.Application(client_max_size=1024**3)
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield server
    finally:
        await runner.cleanup()
