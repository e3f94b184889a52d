"""One background event loop per process, shared by every running :class:`~.Mirror`.

Starting a thread and an event loop per Mirror would cost each test that much more; the
loop runs while at least one Mirror uses it (:func:`acquire`/:func:`release` count
them), and the last release stops it and joins its thread: no thread outlives the
Mirrors (none is left for ``atexit`` to find). A child forked while it runs starts its own."""

from __future__ import annotations

import asyncio
import os
import threading

_lock = threading.Lock()
_users = 0
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def _run(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.close()


def acquire() -> asyncio.AbstractEventLoop:
    """The shared loop, started if it is not running; :func:`release` once done with it."""
    global _users, _loop, _thread
    with _lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            _thread = threading.Thread(target=_run, args=(_loop,), name="sentry-mirror", daemon=True)
            _thread.start()
        _users += 1
        return _loop


def release() -> None:
    """One user less; the last one stops the loop and joins its thread."""
    global _users, _loop, _thread
    with _lock:
        _users = max(_users - 1, 0)  # never below none (a release without its acquire)
        if _users > 0 or _loop is None or _thread is None:
            return
        loop, thread, _loop, _thread = _loop, _thread, None, None
        loop.call_soon_threadsafe(loop.stop)
        thread.join()


def _forget_in_child() -> None:
    """In a forked child the loop's thread does not exist: start afresh (a lock held by
    another thread at the fork would stay held for ever: a new one)."""
    global _lock, _users, _loop, _thread
    _lock, _users, _loop, _thread = threading.Lock(), 0, None, None


os.register_at_fork(after_in_child=_forget_in_child)


def users() -> int:
    """How many users the shared loop has now."""
    with _lock:
        return _users


def running() -> bool:
    """Whether the shared loop's thread is running."""
    with _lock:
        return _thread is not None and _thread.is_alive()
