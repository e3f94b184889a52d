"""Log floods a client can cause: one line per interval, with a count."""

from __future__ import annotations

import asyncio
import errno
import logging
from typing import Any

import pytest
from aiohttp.http_exceptions import BadHttpMessage

from sentry_mirror.io.loop_errors import QuietAcceptErrors, QuietBadRequests

ACCEPT = {"message": "socket.accept() out of system resource", "exception": OSError(errno.EMFILE, "x")}


def test_failed_accepts_are_logged_once_per_interval_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    passed: list[dict[str, Any]] = []
    handler = QuietAcceptErrors(lambda loop, context: passed.append(context), interval=3600)
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.ERROR, logger="sentry_mirror.io.server"):
            for _ in range(5):
                handler(loop, ACCEPT)
    finally:
        loop.close()
    assert [
        "cannot accept connections: Too many open files; 1 failed accept(s) since the last report; retrying every second"
    ] == caplog.messages
    assert (4, 5, []) == (handler.failed, handler.total, passed)


def test_the_next_line_counts_the_accepts_since_the_last(caplog: pytest.LogCaptureFixture) -> None:
    handler = QuietAcceptErrors(lambda loop, context: None, interval=0)
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.ERROR, logger="sentry_mirror.io.server"):
            handler(loop, ACCEPT)
            handler.interval = 3600
            handler(loop, ACCEPT)
            handler(loop, ACCEPT)
            handler.interval = 0
            handler(loop, ACCEPT)
    finally:
        loop.close()
    assert ["1 failed accept(s)", "3 failed accept(s)"] == [
        m.split("; ")[1].split(" since")[0] for m in caplog.messages
    ]


def test_other_reports_go_to_the_previous_handler() -> None:
    passed: list[dict[str, Any]] = []
    handler = QuietAcceptErrors(lambda loop, context: passed.append(context))
    loop = asyncio.new_event_loop()
    try:
        handler(loop, {"message": "something else"})
    finally:
        loop.close()
    assert ([{"message": "something else"}], 0) == (passed, handler.total)


def _record(exc: BaseException | None) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc is not None else None
    return logging.LogRecord("aiohttp.server", logging.ERROR, __file__, 1, "Error handling request", (), exc_info)


def test_refused_requests_let_one_line_through_per_interval() -> None:
    quiet = QuietBadRequests(interval=3600)
    first = _record(BadHttpMessage("Invalid method encountered:\n\n  b'FOO'\n    ^"))
    assert quiet.filter(first)
    assert (
        "1 malformed request(s) answered 400 since the last report; the last: Invalid method encountered",
        None,
        logging.WARNING,
    ) == (
        first.getMessage(),
        first.exc_info,
        first.levelno,
    )
    assert not quiet.filter(_record(BadHttpMessage("again")))
    assert 1 == quiet.refused


def test_other_records_pass_as_they_are() -> None:
    quiet = QuietBadRequests(interval=3600)
    record = _record(ValueError("a bug"))
    assert quiet.filter(record) and quiet.filter(_record(None))
    assert ("Error handling request", logging.ERROR) == (record.getMessage(), record.levelno)
