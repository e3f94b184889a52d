"""A listener running on the shared background loop (:mod:`.loop`): started, told of
each record on disk, given new scripted answers, stopped."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
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
        self._pid = os.getpid()  # a copy inherited by a forked child is not the child's to stop

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
        self._loop, self._task, self.ready, self._pid = loop, task, bound.result(), os.getpid()
        return self.ready

    def _inherited(self) -> bool:
        """Whether this is a forked child's copy of a parent's listener: its loop's thread
        is not in this process, its socket and snapshot are the parent's. The copy is
        dropped without a call on that loop and without a release of this process's loop."""
        if self._pid == os.getpid():
            return False
        self._loop, self._task, self._stop = None, None, None
        return True

    def call(self, function: Callable[[], None], *, if_running: bool = False) -> None:
        """Run ``function`` on the listener's loop and wait until it ran (MirrorError after
        :data:`CALL_TIMEOUT` seconds). Not running (not started, stopping or stopped):
        RuntimeError, or nothing with ``if_running``. A stop waits for a call under way."""
        # (inherited: looked at before the lock, which a parent's thread may have held at the fork)
        inherited = self._inherited()
        with contextlib.nullcontext() if inherited else self._stopping:
            if inherited or self._loop is None:
                if if_running:
                    return
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

    def replace_script(self, script: Script, *, if_running: bool = False) -> None:
        """New scripted answers (RuntimeError when not running, or nothing with ``if_running``)."""
        scripting = self.ready.scripting if self.ready is not None else None
        if scripting is None:
            if if_running:
                return
            raise RuntimeError("the mirror is not running")
        self.call(lambda: scripting.replace(script), if_running=if_running)

    def stop(self) -> Stopped | None:
        """Stop (idempotent): requests in flight get the grace period, the snapshot is closed.
        A second caller waits for the first one's stop to end; in a forked child, a copy of
        the parent's listener is only dropped (None)."""
        if self._inherited():  # before the lock: a parent's thread may have held it at the fork
            return None
        with self._stopping:
            loop, task, stop = self._loop, self._task, self._stop
            if task is None or stop is None:
                return self.stopped
            first = loop is not None  # the first caller stops the listener and releases the loop
            self._loop = None
        try:
            if loop is not None:
                loop.call_soon_threadsafe(stop.set)
            self.stopped = task.result(STOP_TIMEOUT)
        finally:
            if first:
                shared.release()
        return self.stopped

    def files(self) -> tuple[Path, ...]:
        """The snapshot files written so far (the recorder's list, copied)."""
        if self.stopped is not None:
            return self.stopped.files
        if self.ready is None:
            return ()
        return tuple(self.ready.recorder.paths)
