"""Out of file descriptors: one log line per interval instead of a traceback per failed accept.

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
                reason, self.failed,
            )
            self._last, self.failed = now, 0
