"""Log floods a client can cause, tamed to one line per interval with a count.

Out of file descriptors: one log line per interval instead of a traceback per failed accept.

When a process runs out of descriptors, asyncio's accept loop reports every failed
``accept()`` through the loop's exception handler, which logs a full traceback each time
(thousands of lines a minute under a connection flood). It also stops accepting for a
second and then tries again by itself, so service resumes once descriptors are free:
only the noise needs taming. :class:`QuietAcceptErrors` counts those reports and logs one
line per :data:`INTERVAL` with the count; every other report goes to the previous handler.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger("sentry_mirror.io.server")

#: Seconds between two log lines about failed accepts.
INTERVAL = 5.0

_ACCEPT = "socket.accept() out of system resource"

Handler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]


class QuietAcceptErrors:
    """A loop exception handler: failed accepts are counted and logged once per interval."""

    def __init__(self, previous: Handler | None = None, interval: float = INTERVAL) -> None:
        self.previous = previous
        self.interval = interval
        self.failed = 0  # failed accepts since the last line
        self.total = 0
        self._last = -float("inf")

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != _ACCEPT:
            if self.previous is not None:
                self.previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        self.failed += 1
        self.total += 1
        now = time.monotonic()
        if now - self._last >= self.interval:
            exc = context.get("exception")
            reason = os.strerror(exc.errno) if isinstance(exc, OSError) and exc.errno else repr(exc)
            log.error(
                "cannot accept connections: %s; %d failed accept(s) since the last report; retrying every second",
                reason,
                self.failed,
            )
            self._last, self.failed = now, 0


class QuietBadRequests(logging.Filter):
    """For aiohttp's server logger: a request its HTTP parser refuses (answered 400 by
    aiohttp, before the mirror sees it) is logged with a full traceback each time, so a
    fuzzer or a port scanner fills the log. This filter lets one line per interval through,
    with the count and the last parser message, and no traceback."""

    def __init__(self, interval: float = INTERVAL) -> None:
        super().__init__()
        self.interval = interval
        self.refused = 0
        self._last = -float("inf")

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        self.refused += 1
        now = time.monotonic()
        if now - self._last < self.interval:
            return False
        lines = (exc.message or "").strip().splitlines()
        first = lines[0].rstrip(":") if lines else type(exc).__name__
        record.msg, record.args = (
            "%d malformed request(s) answered 400 since the last report; the last: %s",
            (self.refused, first),
        )
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        self._last, self.refused = now, 0
        return True
