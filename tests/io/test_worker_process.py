"""A worker's live lines: written to the parent's pipe without ever waiting; when the pipe
is full they are dropped and counted, and the next line that goes says how many."""

from __future__ import annotations

import multiprocessing
import os
import time
from typing import Any

import orjson

from sentry_mirror.io.worker_process import PIPE_BUF, Segments, _FeedWriter


def pieces(entry: dict[str, Any], upstream: dict[str, Any] | None = None) -> Segments:
    return [(entry["text"], "bold"), ("  ", None)]


def test_a_full_pipe_drops_lines_at_once_and_the_next_line_counts_them() -> None:
    reader, writer = multiprocessing.Pipe(duplex=False)
    feed = _FeedWriter(writer, pieces)
    os.set_blocking(reader.fileno(), False)
    filled = 0
    while feed.dropped == 0:  # the parent reads nothing: the pipe fills
        feed({"text": "x" * 200})
        filled += 1
    started = time.monotonic()
    for _ in range(1000):
        feed({"text": "x" * 200})
    assert time.monotonic() - started < 1.0, "never waits"
    assert 1001 == feed.dropped
    data = b""
    while True:
        try:
            data += os.read(reader.fileno(), 1 << 16)
        except BlockingIOError:
            break
    lines = data.splitlines()
    assert filled - 1 == len(lines)
    assert all(orjson.loads(line) == [0, [["x" * 200, "bold"], ["  ", None]]] for line in lines)
    feed({"text": "after"})
    assert [1001, [["after", "bold"], ["  ", None]]] == orjson.loads(os.read(reader.fileno(), 1 << 16))
    assert 0 == feed.unsaid


def test_a_line_longer_than_one_atomic_write_is_shortened_to_fit() -> None:
    reader, writer = multiprocessing.Pipe(duplex=False)
    feed = _FeedWriter(writer, pieces)
    feed({"text": "é" * PIPE_BUF})
    data = os.read(reader.fileno(), 1 << 16)
    assert len(data) <= PIPE_BUF
    assert [0, [["é" * 100, "bold"], ["  ", None]]] == orjson.loads(data)
    assert 0 == feed.dropped
