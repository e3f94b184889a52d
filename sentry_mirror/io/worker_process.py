"""One worker of ``listen --workers N`` (io/workers.py starts it): a whole listener on the
socket its parent gives it, its live lines sent to the parent without ever waiting, its
files and its summary sent over a control pipe.

The live lines: the pieces of each line (the caller's ``line`` function) go to a pipe
that is non-blocking, each line one ``write`` of at most ``PIPE_BUF`` bytes, so it goes
whole or not at all. When the parent is behind (a slow terminal) lines are dropped and
counted, never an answer delayed; the next line that goes says how many were dropped.

The worker stops cleanly (requests in flight finished, its file closed) when the parent
says so, when its control pipe ends (the parent is gone), on SIGINT/SIGTERM (Ctrl-C in a
terminal reaches every process of the group), and on Linux when the parent dies
(``PR_SET_PDEATHSIG`` sends it SIGTERM)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import select
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import orjson

from sentry_mirror.errors import MirrorError
from sentry_mirror.io.api_relay import remove_socket
from sentry_mirror.io.listener import ListenOptions, Ready, Stopped, Worker, listen

#: Blocked while a worker starts (io/workers.py); run_worker takes them, then lets them in.
STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})
#: The largest write a pipe takes whole or not at all.
PIPE_BUF = getattr(select, "PIPE_BUF", 512)

Segments = list[tuple[str, str | None]]
#: Renders one record (and its upstream answer record) as the pieces of its live line.
Line = Callable[[dict[str, Any], dict[str, Any] | None], Segments]


@dataclass(frozen=True)
class WorkerSpec:
    """What one worker process gets (pickled by spawn; sockets and pipes passed along)."""

    index: int
    options: ListenOptions
    worker: Worker  # its socket, forward mode's loop mark, where the web API is answered
    control: Connection
    feed: Connection | None
    line: Line | None
    parent: int


class _FeedWriter:
    """A worker's live lines into its pipe: never waits, drops (and counts) when it is full."""

    def __init__(self, pipe: Connection, line: Line) -> None:
        self.fd = pipe.fileno()
        os.set_blocking(self.fd, False)
        self.line = line
        self.dropped = 0
        self.unsaid = 0  # dropped since the last line that went

    def __call__(self, entry: dict[str, Any], upstream: dict[str, Any] | None = None) -> None:
        segments = self.line(entry, upstream)
        data = orjson.dumps([self.unsaid, segments]) + b"\n"
        if len(data) > PIPE_BUF:
            data = orjson.dumps([self.unsaid, [(piece[:100], style) for piece, style in segments]]) + b"\n"
        try:
            if len(data) > PIPE_BUF:
                raise BlockingIOError
            os.write(self.fd, data)
        except OSError:  # full (BlockingIOError), or the parent is gone
            self.dropped += 1
            self.unsaid += 1
        else:
            self.unsaid = 0


def _die_with_parent(parent: int) -> None:
    """Linux: SIGTERM (a clean stop) when the parent dies; gone already: stop now."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        sys.exit(0)


def run_worker(spec: WorkerSpec) -> None:
    """A worker process's entry point: one listener until told to stop (or its parent goes)."""
    # Ctrl-C reaches the whole group: a worker leaves SIGINT to the parent, which tells it to
    # stop (a Ctrl-C held back while this interpreter started is dropped here); SIGTERM stops
    # it (the listener's own handler once it runs).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    try:
        _die_with_parent(spec.parent)
        feed = _FeedWriter(spec.feed, spec.line) if spec.feed is not None and spec.line is not None else None
        try:
            stopped = asyncio.run(_serve(spec, feed))
        except MirrorError as exc:
            with contextlib.suppress(OSError):
                spec.control.send(("failed", str(exc)))
            sys.exit(int(exc.exit_code))
        with contextlib.suppress(OSError):
            spec.control.send(("stopped", stopped, feed.dropped if feed is not None else 0))
    finally:  # the parent gone (killed): the worker that holds the web API's socket removes it
        if spec.worker.api.sock is not None and os.getppid() != spec.parent:
            remove_socket(spec.worker.api.path)


async def _serve(spec: WorkerSpec, feed: _FeedWriter | None) -> Stopped:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    control = spec.control

    def told() -> None:  # "stop", or the end of the pipe: the parent is gone
        loop.remove_reader(control.fileno())
        with contextlib.suppress(EOFError, OSError):
            control.recv()
        stop.set()

    def ready(info: Ready) -> None:
        control.send(("ready", info.recorder.path))

    loop.add_reader(control.fileno(), told)
    return await listen(
        spec.options,
        on_ready=ready,
        on_record=feed,
        on_rotate=lambda path: control.send(("rotated", path)),
        stop=stop,
        worker=spec.worker,
    )
