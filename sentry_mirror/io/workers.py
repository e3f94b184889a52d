"""``listen --workers N``: N listener processes on one port, one feed, one shutdown.

The parent binds the port and never serves a request. Each worker is a whole listener
(:func:`sentry_mirror.io.listener.listen`, the same options) with its own snapshot file
(the names carry the pid), so every guarantee of one listener holds in each: a request is
answered only once its record is on disk, the limits, 503 with ``Retry-After`` when its
snapshot cannot be written, hostile input answered and recorded.

**Sharing the port.** On Linux the parent binds one listening socket per worker with
``SO_REUSEPORT`` on the same address (the first on port 0 when asked, the others on the
port it got) and hands each worker its own: the kernel spreads new connections over them.
A fixed port is first tried with a plain bind, so a port another listener holds is refused
as with one worker. A socket stays open in the parent while its worker is restarted, so
connections waiting on it are served by the new worker. Elsewhere (macOS's
``SO_REUSEPORT`` does not spread connections; Windows has none), or with
``SENTRY_MIRROR_WORKERS_SOCKET=shared``, the parent binds one socket and every worker
accepts on it (the kernel wakes them in turn; the spread is less even).

**The feed.** Each worker sends its live lines down its own pipe without ever waiting
(io/worker_process.py); the parent prints them. Files opened (the first one, rotations)
and the worker's summary at the end come over a second pipe.

**Stopping.** SIGINT/SIGTERM to the parent: it closes its sockets and tells every worker
to stop; each finishes its requests in flight within ``--grace`` and closes its file, as
one listener does (Ctrl-C in a terminal reaches the workers too: the same clean stop). The
parent waits for them (the grace, a margin, and :data:`STOP_SLACK`; then SIGKILL) and sums
their summaries. A worker that ends on its own is named on stderr and started again; more
than :data:`MAX_DEATHS` deaths within :data:`DEATH_WINDOW` stop everything (exit 3). A
worker stops when its parent goes: on Linux ``PR_SET_PDEATHSIG`` sends it SIGTERM, and
everywhere the end of its control pipe tells it to stop.

**Start method: spawn.** Workers are started with ``multiprocessing``'s *spawn* (a fresh
interpreter), not *fork*: the parent has signal handlers and a signal wakeup pipe installed
and may have threads (the console), which a forked child would inherit half-way (Python
warns about forking with threads); a worker must start its event loop, signal handling and
logging from a clean state, restarts included. Spawn costs an interpreter start per
worker (under a second), paid once per start, never per request, and it is the same on
Linux and macOS. *forkserver* would save that cost but adds a third process to keep alive
and still forks from a template. Sockets and pipes reach the worker by spawn's descriptor
passing.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import secrets
import select
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import orjson

from sentry_mirror.errors import MirrorError
from sentry_mirror.io.api_relay import SharedApi, api_socket, remove_socket
from sentry_mirror.io.forward import Tally
from sentry_mirror.io.listener import ListenOptions, Stopped, Worker
from sentry_mirror.io.server import SHUTDOWN_MARGIN
from sentry_mirror.io.worker_process import STOP_SIGNALS, Line, Segments, WorkerSpec, run_worker

log = logging.getLogger(__name__)

#: ``shared`` forces the fallback (one socket accepted on by every worker).
SOCKET_ENV = "SENTRY_MIRROR_WORKERS_SOCKET"
#: More worker deaths than this within DEATH_WINDOW seconds stop the listener (exit 3).
MAX_DEATHS = 5
DEATH_WINDOW = 60.0
#: Seconds the parent waits for workers past their grace period and margin (closing files).
STOP_SLACK = 5.0
#: Listen backlog of each socket (aiohttp's default).
BACKLOG = 128


@dataclass(frozen=True)
class Started:
    """The workers are all serving: where, and the file each writes into."""

    host: str
    port: int
    paths: tuple[Path, ...]
    shared_socket: bool  # the fallback: one socket for every worker


@dataclass(frozen=True)
class Summary:
    """The workers' summaries summed; ``died``: workers that ended without one (their
    requests are in their files but not counted); ``dropped``: live lines dropped."""

    stopped: Stopped
    died: int = 0
    dropped: int = 0


@dataclass(frozen=True)
class Callbacks:
    on_ready: Callable[[Started], None]
    on_rotate: Callable[[Path], None]
    on_note: Callable[[str], None]  # a worker died, was restarted... (stderr)
    on_line: Callable[[Segments], None] | None = None  # None: no live lines (--quiet)


# ---------------------------------------------------------------- the port


def _plain_bind_check(family: int, address: Any) -> None:
    """Bind ``address`` without SO_REUSEPORT and let go: fails when anyone listens there."""
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)


def _listening(family: int, address: Any, reuse_port: bool) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def reuse_port_available() -> bool:
    """SO_REUSEPORT that spreads connections (Linux), unless the fallback is asked for."""
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT") and os.environ.get(SOCKET_ENV) != "shared"


def share_port(host: str, port: int, count: int) -> tuple[list[socket.socket], bool]:
    """The listening sockets for ``count`` workers on ``host:port`` (one each with
    SO_REUSEPORT, else one for all), and whether they are the shared fallback."""
    reuse = reuse_port_available()
    try:
        family, _, _, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        if not reuse:
            return [_listening(family, address, False)], True
        if port:
            _plain_bind_check(family, address)
        first = _listening(family, address, True)
        bound = (address[0], first.getsockname()[1], *address[2:])
        socks = [first]
        try:
            socks += [_listening(family, bound, True) for _ in range(count - 1)]
        except BaseException:
            for sock in socks:
                sock.close()
            raise
        return socks, False
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise MirrorError(f"cannot listen on {host}:{port}: {reason} (try --port 0 for a free port)") from None


# ---------------------------------------------------------------- the parent


@dataclass
class _Slot:
    """One worker position: its socket, and the process serving it now."""

    index: int
    sock: socket.socket
    process: BaseProcess | None = None
    control: Connection | None = None  # the parent's end
    feed: Connection | None = None  # the parent's (reading) end
    buffer: bytes = b""
    ready: bool = False
    stopped: bool = False  # its summary came
    paths: list[Path] = field(default_factory=list)


class _Supervisor:
    def __init__(self, options: ListenOptions, socks: list[socket.socket], count: int, line: Line | None) -> None:
        self.options = options
        self.socks = socks
        self.slots = [_Slot(i, socks[i % len(socks)]) for i in range(count)]
        self.line = line
        self.marker = f"sentry-mirror-{secrets.token_hex(8)}"
        self.context = multiprocessing.get_context("spawn")
        self.selector = selectors.DefaultSelector()
        self.summaries: list[Stopped] = []
        self.deaths: list[float] = []
        self.died = 0
        self.dropped = 0
        self.announced = False
        self.on_line: Callable[[Segments], None] | None = None  # the feed, once running
        self.stopping = False
        self.deadline: float | None = None
        self.fatal: str | None = None
        self.api_sock, self.api_path = api_socket()

    def close(self) -> None:
        """Let go of what the parent holds: the web API's socket (and its file), the selector."""
        self.api_sock.close()
        remove_socket(self.api_path)
        self.selector.close()

    def start(self, slot: _Slot) -> None:
        parent_control, child_control = self.context.Pipe()
        feed_read, feed_write = self.context.Pipe(duplex=False) if self.line is not None else (None, None)
        api = SharedApi(self.api_path, self.api_sock if slot.index == 0 else None)  # the first answers the web API
        worker = Worker(slot.sock, self.marker, api)
        spec = WorkerSpec(slot.index, self.options, worker, child_control, feed_write, self.line, os.getpid())
        process = self.context.Process(target=run_worker, args=(spec,), name=f"sentry-mirror-worker-{slot.index + 1}")
        # the resource tracker first: starting it lets SIGINT/SIGTERM in again (Python's own)
        resource_tracker.ensure_running()
        with _stop_signals_blocked():  # the child starts with them blocked: run_worker takes them
            process.start()
        child_control.close()
        if feed_write is not None:
            feed_write.close()
        slot.process, slot.control, slot.feed, slot.buffer = process, parent_control, feed_read, b""
        slot.ready = slot.stopped = False
        self.selector.register(parent_control, selectors.EVENT_READ, ("control", slot, parent_control))
        if feed_read is not None:
            os.set_blocking(feed_read.fileno(), False)
            self.selector.register(feed_read, selectors.EVENT_READ, ("feed", slot, feed_read))
        self.selector.register(process.sentinel, selectors.EVENT_READ, ("exit", slot, process))

    def begin_stop(self, fatal: str | None = None) -> None:
        self.fatal = self.fatal or fatal
        if self.stopping:
            return
        self.stopping = True
        for sock in self.socks:  # no new connections: as one listener stops accepting
            sock.close()
        for slot in self.slots:
            if slot.control is not None:
                with contextlib.suppress(OSError):
                    slot.control.send("stop")
        timeouts = self.options.timeouts
        self.deadline = time.monotonic() + timeouts.grace + SHUTDOWN_MARGIN + STOP_SLACK

    def alive(self) -> list[_Slot]:
        return [slot for slot in self.slots if slot.process is not None]

    def run(self, wake: int, callbacks: Callbacks) -> None:
        """Until every worker has stopped after a signal (or a fatal error)."""
        self.selector.register(wake, selectors.EVENT_READ, ("wake", None, None))
        self.on_line = callbacks.on_line
        while not (self.stopping and not self.alive()):
            timeout = None if self.deadline is None else max(0.0, self.deadline - time.monotonic())
            if timeout == 0.0:
                self.kill_late(callbacks)
                break
            # a signal first: a worker that Ctrl-C stopped too is then not started again
            for key, _ in sorted(self.selector.select(timeout), key=lambda event: event[0].data[0] != "wake"):
                kind, slot, source = key.data
                if kind == "wake":
                    with contextlib.suppress(OSError):
                        os.read(wake, 512)
                    self.begin_stop()
                elif source not in (slot.feed, slot.control, slot.process):
                    continue  # closed earlier in this round (its worker ended)
                elif kind == "feed":
                    self.read_feed(slot, callbacks)
                elif kind == "control":
                    self.read_control(slot, callbacks)
                else:
                    self.exited(slot, callbacks)

    def read_feed(self, slot: _Slot, callbacks: Callbacks) -> None:
        assert slot.feed is not None
        try:
            data = os.read(slot.feed.fileno(), 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.selector.unregister(slot.feed)
            slot.feed.close()
            slot.feed = None
            return
        *lines, slot.buffer = (slot.buffer + data).split(b"\n")
        for raw in lines:
            if self.on_line is None:
                break
            try:
                unsaid, segments = orjson.loads(raw)
                if unsaid:
                    self.on_line([(f"… {unsaid} live line(s) not shown: the terminal was slower", "dim")])
                self.on_line([(str(piece), style) for piece, style in segments])
            except Exception:  # a closed stdout, say: as one listener, the feed stops, not the listener
                self.on_line = None
                log.exception("the live line could not be printed; no more live lines")

    def read_control(self, slot: _Slot, callbacks: Callbacks) -> None:
        assert slot.control is not None
        try:
            message = slot.control.recv()
        except (EOFError, OSError):
            self.selector.unregister(slot.control)
            slot.control.close()
            slot.control = None
            return
        if message[0] == "ready":
            slot.ready = True
            if message[1] is not None:
                slot.paths.append(message[1])
            if self.announced and message[1] is not None:
                callbacks.on_rotate(message[1])
            elif all(s.ready for s in self.slots) and not self.stopping:
                self.announced = True
                paths = tuple(s.paths[0] for s in self.slots if s.paths)
                callbacks.on_ready(Started(self.options.host, self.port, paths, len(self.socks) == 1))
        elif message[0] == "rotated":
            slot.paths.append(message[1])
            callbacks.on_rotate(message[1])
        elif message[0] == "stopped":
            slot.stopped = True
            self.summaries.append(message[1])
            self.dropped += message[2]
        elif message[0] == "failed" and not self.announced:
            self.begin_stop(message[1])
        elif message[0] == "failed":
            callbacks.on_note(f"worker {slot.index + 1} could not start again: {message[1]}")

    @property
    def port(self) -> int:
        return int(self.socks[0].getsockname()[1])

    def exited(self, slot: _Slot, callbacks: Callbacks) -> None:
        """A worker ended: its last messages read; unless stopping, named and started again."""
        assert slot.process is not None
        while slot.control is not None and slot.control.poll():
            self.read_control(slot, callbacks)
        while slot.feed is not None:
            self.read_feed(slot, callbacks)
            if slot.feed is not None and not select.select([slot.feed], [], [], 0)[0]:
                break
        process, slot.process = slot.process, None
        self.selector.unregister(process.sentinel)
        process.join()
        for pipe in (slot.control, slot.feed):
            if pipe is not None:
                self.selector.unregister(pipe)
                pipe.close()
        slot.control = slot.feed = None
        if self.stopping:
            return
        if not slot.stopped:
            self.died += 1
        self.worker_ended(slot, process, callbacks)

    def worker_ended(self, slot: _Slot, process: BaseProcess, callbacks: Callbacks) -> None:
        how = _how(process.exitcode)
        now = time.monotonic()
        self.deaths = [t for t in self.deaths if now - t < DEATH_WINDOW] + [now]
        if not self.announced:
            self.begin_stop(f"worker {slot.index + 1} (pid {process.pid}) {how} before it served")
        elif len(self.deaths) > MAX_DEATHS:
            callbacks.on_note(f"worker {slot.index + 1} (pid {process.pid}) {how}")
            self.begin_stop(f"workers keep dying: {len(self.deaths)} in {DEATH_WINDOW:.0f} s; stopped")
        else:
            callbacks.on_note(f"worker {slot.index + 1} (pid {process.pid}) {how}; starting it again")
            self.start(slot)

    def kill_late(self, callbacks: Callbacks) -> None:
        for slot in self.alive():
            assert slot.process is not None
            callbacks.on_note(f"worker {slot.index + 1} (pid {slot.process.pid}) did not stop in time: killed")
            slot.process.kill()
            slot.process.join()
            self.died += 1
            slot.process = None

    def summary(self) -> Summary:
        return Summary(_sum(self.summaries, self.slots), self.died, self.dropped)


def _how(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"died (killed by {signal.Signals(-code).name})"
    return f"ended (exit code {code})"


def _sum(summaries: list[Stopped], slots: list[_Slot]) -> Stopped:
    """One summary for all workers: counts added, servers merged in order, every file that holds a record."""
    tallies: dict[tuple[str, str], Tally] = {}
    for stopped in summaries:
        for tally in stopped.targets:
            total = tallies.setdefault((tally.kind, tally.to), Tally(tally.to, tally.kind))
            total.delivered += tally.delivered
            total.undelivered += tally.undelivered
            total.dropped += tally.dropped
    reported = {path for stopped in summaries for path in stopped.files}
    files = sorted(reported | {p for slot in slots for p in slot.paths if _holds_data(p)})
    return Stopped(
        records=sum(s.records for s in summaries),
        files=tuple(files),
        refused=sum(s.refused for s in summaries),
        outages=sum(s.outages for s in summaries),
        targets=tuple(tallies.values()),
        unrecorded=sum(s.unrecorded for s in summaries),
        answers=sum(s.answers for s in summaries),
        answers_lost=sum(s.answers_lost for s in summaries),
    )


def _holds_data(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


@contextlib.contextmanager
def _stop_signals_blocked() -> Iterator[None]:
    """SIGINT and SIGTERM held back (not lost): a worker inherits the mask across spawn's exec,
    so a Ctrl-C while its interpreter imports waits until run_worker has taken them."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def _signals() -> Iterator[int]:
    """SIGINT and SIGTERM wake the parent's loop (a byte on the pipe it yields) instead of raising."""
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    previous = {signum: signal.signal(signum, lambda *_: None) for signum in (signal.SIGINT, signal.SIGTERM)}
    old = signal.set_wakeup_fd(write)
    try:
        yield read
    finally:
        signal.set_wakeup_fd(old)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        os.close(read)
        os.close(write)


def supervise(options: ListenOptions, count: int, callbacks: Callbacks, line: Line | None = None) -> Summary:
    """Serve ``options`` with ``count`` worker processes until SIGINT/SIGTERM; their summaries summed.

    ``line``: a top-level function (it is pickled by reference) rendering a live line in
    the workers; None with ``callbacks.on_line`` None (``--quiet``)."""
    with _signals() as wake:  # first: a Ctrl-C from now on is a clean stop, as with one listener
        socks, _ = share_port(options.host, options.port, count)
        try:
            supervisor = _Supervisor(options, socks, count, line if callbacks.on_line is not None else None)
        except BaseException:
            for sock in socks:
                sock.close()
            raise
        try:
            for slot in supervisor.slots:
                supervisor.start(slot)
            supervisor.run(wake, callbacks)
        finally:  # after an error too: the workers still stop cleanly, within the same time
            supervisor.begin_stop()
            for slot in supervisor.alive():
                assert slot.process is not None and supervisor.deadline is not None
                slot.process.join(max(0.0, supervisor.deadline - time.monotonic()))
                if slot.process.is_alive():
                    slot.process.kill()
                    slot.process.join()
            supervisor.close()
    if supervisor.fatal is not None:
        raise MirrorError(supervisor.fatal)
    return supervisor.summary()
