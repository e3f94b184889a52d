"""``sentry-mirror listen`` as a coroutine: recorder + server + signals, until stopped."""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from sentry_mirror.core import ingest
from sentry_mirror.core.script import Script
from sentry_mirror.core.webapi.chunks import DEFAULT_MAX_UPLOAD
from sentry_mirror.errors import ScriptError
from sentry_mirror.io import api_relay
from sentry_mirror.io.api_relay import SharedApi
from sentry_mirror.io.forward import ForwardOptions, Tally
from sentry_mirror.io.forwarding_app import Forwarding
from sentry_mirror.io.loop_errors import QuietAcceptErrors, QuietBadRequests
from sentry_mirror.io.recorder import Recorder
from sentry_mirror.io.scripting import Scripting
from sentry_mirror.io.server import ApiRelay, Mirror, OnRecord, Timeouts, answer_api, create_app, serve


@dataclass(frozen=True)
class ListenOptions:
    host: str = "127.0.0.1"
    port: int = 9001
    directory: Path = Path("snapshots")
    rotate_size: int | None = None
    rotate_every: float | None = None
    fsync: bool = False
    config: ingest.Config = field(default_factory=ingest.Config)
    timeouts: Timeouts = field(default_factory=Timeouts)
    forward: ForwardOptions = field(default_factory=ForwardOptions)
    repos: tuple[str, ...] = ()  # the repositories the web API lists (io/webapi.py)
    max_upload: int = DEFAULT_MAX_UPLOAD  # the largest file the web API puts together (io/webapi.py)
    script: Script | None = None  # scripted answers (io/scripting.py, docs/scripts.md)


@dataclass(frozen=True)
class Worker:
    """What a worker of ``listen --workers`` gets besides the options (io/workers.py)."""

    sock: socket.socket  # the listening socket it serves on (host:port is bound by its parent)
    marker: str  # forward mode's loop mark, one for all workers
    api: SharedApi  # where web API requests are answered (io/api_relay.py)


@dataclass(frozen=True)
class Ready:
    """What the listener tells its user once it is bound: where to send, where it writes."""

    host: str
    port: int
    recorder: Recorder
    forwarding: Forwarding | None = None
    in_flight: Callable[[], int] | None = None  # how many requests are being handled now
    scripting: Scripting | None = None  # the scripted answers, when a script was given (replaceable)


@dataclass(frozen=True)
class Stopped:
    records: int  # request records written (answer records are not counted here)
    files: tuple[Path, ...]
    refused: int = 0  # records refused because the snapshot could not be written (503s when not forwarding)
    outages: int = 0  # times the snapshot became unwritable (and came back)
    targets: tuple[Tally, ...] = ()  # forward mode: what became of the requests, per server (upstream first)
    unrecorded: int = 0  # forward mode: requests sent on whose record could not be written
    answers: int = 0  # forward mode: answer records written
    answers_lost: int = 0  # forward mode: answer records that could not be written


async def listen(
    options: ListenOptions,
    *,
    on_ready: Callable[[Ready], None],
    on_record: OnRecord | None = None,
    on_rotate: Callable[[Path], None] | None = None,
    stop: asyncio.Event | None = None,
    worker: Worker | None = None,
) -> Stopped:
    """Serve until SIGINT/SIGTERM (or ``stop`` is set); then finish in-flight requests
    (within the grace period), flush and close the snapshot; ``worker``: one of ``--workers``.

    A snapshot that cannot be written (a full disk) does not stop the listener: requests
    get 503 with Retry-After until it can be written again (see :class:`Recorder`)."""
    if options.script is not None and options.forward.upstream:
        raise ScriptError("scripted answers cannot go with --forward: the SDK gets the upstream's answer")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
            pass
    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(QuietAcceptErrors(previous_handler))
    quiet = QuietBadRequests()
    server_log = logging.getLogger("aiohttp.server")
    server_log.addFilter(quiet)
    recorder = Recorder(
        options.directory,
        rotate_size=options.rotate_size,
        rotate_every=options.rotate_every,
        fsync=options.fsync,
        on_open=on_rotate,
    )
    forwarding: Forwarding | None = None
    try:
        await recorder.start()
        forwarding = await _run(options, recorder, on_ready, on_record, stop, worker)
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
        loop.set_exception_handler(previous_handler)
        server_log.removeFilter(quiet)
    if forwarding is None:
        return Stopped(recorder.records, tuple(recorder.paths), recorder.refused, recorder.outages)
    return Stopped(
        recorder.records - forwarding.answers,
        tuple(recorder.paths),
        recorder.refused,
        recorder.outages,
        tuple(forwarding.tallies),
        forwarding.unrecorded,
        forwarding.answers,
        forwarding.answers_lost,
    )


async def _run(
    options: ListenOptions,
    recorder: Recorder,
    on_ready: Callable[[Ready], None],
    on_record: OnRecord | None,
    stop: asyncio.Event,
    worker: Worker | None = None,
) -> Forwarding | None:
    """Serve until ``stop`` is set; then stop the server, the forwarding (its candidates get
    what is left of the grace period) and the recorder, in that order."""
    forwarding = None
    try:
        if options.forward.upstream or options.forward.tee:
            forwarding = Forwarding(options.forward, recorder, worker.marker if worker else None)
        app = create_app(
            recorder,
            options.config,
            on_record,
            options.timeouts,
            forwarding,
            options.repos,
            options.max_upload,
            options.script,
            _relay(worker),
        )
        running = await serve(app, options.host, options.port, worker.sock if worker else None)
        api = await _serve_api(app, worker)
    except BaseException:
        if forwarding is not None:
            await forwarding.close(0.0)
        await recorder.close()
        raise
    try:
        on_ready(Ready(options.host, running.port, recorder, forwarding, lambda: app.flight.count, app.scripting))
        await stop.wait()
    finally:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            await running.stop()
            if api is not None:
                api.close()
        finally:  # whatever happens stopping the server, the snapshot is finished
            try:
                if forwarding is not None:
                    await forwarding.close(max(0.0, options.timeouts.grace - (loop.time() - started)))
            finally:
                await recorder.close()
    return forwarding


def _relay(worker: Worker | None) -> ApiRelay | None:
    """Where a worker sends web API requests: to the worker that answers them, unless it is that one."""
    if worker is None or worker.api.sock is not None:
        return None
    return functools.partial(api_relay.relay, worker.api.path)


async def _serve_api(app: Mirror, worker: Worker | None) -> asyncio.Server | None:
    """The worker that answers the web API: the other workers' requests, counted in flight."""
    if worker is None or worker.api.sock is None:
        return None

    async def answer(incoming: ingest.Request, wire_size: int, truncated: bool, remote: str | None) -> web.Response:
        app.flight.begin()
        try:
            return await answer_api(app, incoming, wire_size, truncated, remote)
        finally:
            app.flight.end()

    return await api_relay.serve(worker.api.sock, answer)
