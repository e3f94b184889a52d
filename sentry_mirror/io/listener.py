"""``sentry-mirror listen`` as a coroutine: recorder + server + signals, until stopped."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sentry_mirror.core import ingest
from sentry_mirror.io.loop_errors import QuietAcceptErrors, QuietBadRequests
from sentry_mirror.io.recorder import Recorder
from sentry_mirror.io.server import OnRecord, Timeouts, create_app, serve


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


@dataclass(frozen=True)
class Ready:
    """What the listener tells its user once it is bound: where to send, where it writes."""

    host: str
    port: int
    recorder: Recorder


@dataclass(frozen=True)
class Stopped:
    records: int
    files: tuple[Path, ...]
    refused: int = 0  # requests answered 503 because the snapshot could not be written
    outages: int = 0  # times the snapshot became unwritable (and came back)


async def listen(
    options: ListenOptions,
    *,
    on_ready: Callable[[Ready], None],
    on_record: OnRecord | None = None,
    on_rotate: Callable[[Path], None] | None = None,
    stop: asyncio.Event | None = None,
) -> Stopped:
    """Serve until SIGINT/SIGTERM (or ``stop`` is set); then finish in-flight requests
    (within the grace period), flush and close the snapshot.

    A snapshot that cannot be written (a full disk) does not stop the listener: requests
    get 503 with Retry-After until it can be written again (see :class:`Recorder`)."""
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
    try:
        await recorder.start()
        try:
            running = await serve(
                create_app(recorder, options.config, on_record, options.timeouts), options.host, options.port
            )
        except BaseException:
            await recorder.close()
            raise
        try:
            on_ready(Ready(options.host, running.port, recorder))
            await stop.wait()
        finally:
            await running.stop()
            await recorder.close()
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
        loop.set_exception_handler(previous_handler)
        server_log.removeFilter(quiet)
    return Stopped(recorder.records, tuple(recorder.paths), recorder.refused, recorder.outages)
