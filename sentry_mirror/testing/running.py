"""A listener running on the shared background loop (:mod:`.loop`): started, told of
each record on disk, given new scripted answers, stopped."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sentry_mirror.core.script import Script
from sentry_mirror.errors import MirrorError
from sentry_mirror.io.listener import ListenOptions, Ready, Stopped, listen
from sentry_mirror.testing import loop as shared

#: How long stopping may take at most (the listener's grace period is 5 s; with nothing in
#: flight it stops at once).
STOP_TIMEOUT = 30.0
#: How long binding may take at most (it takes about a millisecond).
START_TIMEOUT = 30.0
#: How long a call on the loop (new scripted answers) may take at most.
CALL_TIMEOUT = 10.0


class Listener:
    """``listen(options)`` on the shared loop; :meth:`start` returns once it is bound."""

    def __init__(self, options: ListenOptions, on_record: Callable[[dict[str, Any], Any], None]) -> None:
        self.options = options
        self.on_record = on_record
        self.ready: Ready | None = None
        self.stopped: Stopped | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._task: concurrent.futures.Future[Stopped] | None = None
        self._stopping = threading.Lock()  # two threads stopping at once release the loop once

    def start(self) -> Ready:
        loop = shared.acquire()
        bound: concurrent.futures.Future[Ready] = concurrent.futures.Future()

        async def run() -> Stopped:
            self._stop = asyncio.Event()
            return await listen(self.options, on_ready=bound.set_result, on_record=self.on_record, stop=self._stop)

        task = asyncio.run_coroutine_threadsafe(run(), loop)
        futures: list[concurrent.futures.Future[Any]] = [bound, task]
        concurrent.futures.wait(futures, timeout=START_TIMEOUT, return_when=concurrent.futures.FIRST_COMPLETED)
        if not bound.done() and not task.done():
            task.cancel()
            shared.release()
            raise MirrorError(f"the mirror did not start within {START_TIMEOUT:g} s")
        if not bound.done():
            shared.release()
            exc = task.exception()
            if isinstance(exc, MirrorError):
                raise exc
            raise MirrorError(f"the mirror could not start: {exc!r}") from exc
        self._loop, self._task, self.ready = loop, task, bound.result()
        return self.ready

    def call(self, function: Callable[[], None]) -> None:
        """Run ``function`` on the listener's loop and wait until it ran (MirrorError after
        :data:`CALL_TIMEOUT` seconds)."""
        if self._loop is None:
            raise RuntimeError("the mirror is not running")
        done: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            try:
                function()
            except BaseException as exc:
                done.set_exception(exc)
            else:
                done.set_result(None)

        self._loop.call_soon_threadsafe(run)
        try:
            done.result(CALL_TIMEOUT)
        except concurrent.futures.TimeoutError:
            raise MirrorError(f"the mirror's loop did not answer within {CALL_TIMEOUT:g} s") from None

    def replace_script(self, script: Script) -> None:
        scripting = self.ready.scripting if self.ready is not None else None
        if scripting is None:
            raise RuntimeError("the mirror is not running")
        self.call(lambda: scripting.replace(script))

    def stop(self) -> Stopped | None:
        """Stop (idempotent): requests in flight get the grace period, the snapshot is closed."""
        with self._stopping:
            loop, task, stop = self._loop, self._task, self._stop
            if loop is None or task is None or stop is None:
                return self.stopped
            self._loop = None
        try:
            loop.call_soon_threadsafe(stop.set)
            self.stopped = task.result(STOP_TIMEOUT)
        finally:
            shared.release()
        return self.stopped

    def files(self) -> tuple[Path, ...]:
        """The snapshot files written so far (the recorder's list, copied)."""
        if self.stopped is not None:
            return self.stopped.files
        if self.ready is None:
            return ()
        return tuple(self.ready.recorder.paths)
