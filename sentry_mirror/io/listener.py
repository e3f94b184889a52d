"""``sentry-mirror listen`` as a coroutine: recorder + server + signals, until stopped."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sentry_mirror.core import ingest
from sentry_mirror.errors import SnapshotError
from sentry_mirror.io.recorder import Recorder
from sentry_mirror.io.server import OnRecord, create_app, serve


@dataclass(frozen=True)
class ListenOptions:
    host: str = "127.0.0.1"
    port: int = 9001
    directory: Path = Path("snapshots")
    rotate_size: int | None = None
    rotate_every: float | None = None
    fsync: bool = False
    config: ingest.Config = field(default_factory=ingest.Config)


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


async def listen(
    options: ListenOptions,
    *,
    on_ready: Callable[[Ready], None],
    on_record: OnRecord | None = None,
    on_rotate: Callable[[Path], None] | None = None,
    stop: asyncio.Event | None = None,
) -> Stopped:
    """Serve until SIGINT/SIGTERM (or ``stop`` is set); then finish in-flight requests,
    flush and close the snapshot. Raises :class:`SnapshotError` if a write failed."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
            pass
    recorder = Recorder(
        options.directory,
        rotate_size=options.rotate_size,
        rotate_every=options.rotate_every,
        fsync=options.fsync,
        on_open=on_rotate,
    )
    await recorder.start()
    try:
        running = await serve(create_app(recorder, options.config, on_record), options.host, options.port)
    except BaseException:
        await recorder.close()
        raise
    try:
        on_ready(Ready(options.host, running.port, recorder))
        waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(recorder.failed.wait())]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
    finally:
        await running.stop()
        await recorder.close()
        for signum in installed:
            loop.remove_signal_handler(signum)
    if recorder.failure is not None:
        raise SnapshotError(f"stopped: the snapshot could not be written ({recorder.failure})")
    return Stopped(recorder.records, tuple(recorder.paths))
