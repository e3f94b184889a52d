"""The listener on the shared loop: one thread for every running mirror, joined after the last."""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from sentry_mirror.errors import MirrorError
from sentry_mirror.io.listener import ListenOptions
from sentry_mirror.io.server import Timeouts
from sentry_mirror.testing import Mirror, running
from sentry_mirror.testing import loop as shared
from sentry_mirror.testing import mirror as mirror_module
from sentry_mirror.testing.running import Listener


def after(before: int) -> None:
    """The users of the shared loop are back to ``before``; with none, its thread is joined.
    (Another Mirror of this process, a session-scoped one, may be running meanwhile.)"""
    assert before == shared.users()
    assert shared.running() == (before > 0)


def test_mirrors_share_one_thread_joined_after_the_last_stops(tmp_path: Path) -> None:
    before = shared.users()
    first = Mirror(tmp_path / "a").start()
    second = Mirror(tmp_path / "b").start()
    assert first.port != second.port
    assert before + 2 == shared.users()
    first.stop()
    assert shared.running()  # the second still uses it
    second.stop()
    after(before)


def test_a_listener_that_cannot_bind_raises_and_lets_the_loop_go(tmp_path: Path) -> None:
    before = shared.users()
    with Mirror(tmp_path / "a") as first:
        listener = Listener(ListenOptions(port=first.port, directory=tmp_path / "b"), lambda *_: None)
        with pytest.raises(MirrorError, match="cannot listen"):
            listener.start()
        assert listener.stop() is None  # never started: nothing to stop
    after(before)


def test_stop_says_what_was_written(tmp_path: Path) -> None:
    listener = Listener(ListenOptions(port=0, directory=tmp_path), lambda *_: None)
    listener.start()
    stopped = listener.stop()
    assert stopped is not None and 0 == stopped.records
    assert stopped is listener.stop()  # idempotent
    assert () == listener.files()  # an empty snapshot is removed


def test_a_script_cannot_be_replaced_before_start(tmp_path: Path) -> None:
    from sentry_mirror.core.script import Script

    with pytest.raises(RuntimeError, match="not running"):
        Listener(ListenOptions(directory=tmp_path), lambda *_: None).replace_script(Script(()))


def _start_a_mirror_and_exit(directory: Path) -> None:
    with Mirror(directory):
        pass


def test_a_process_forked_while_a_mirror_runs_can_start_its_own(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    with Mirror(tmp_path / "parent"):
        child = context.Process(target=_start_a_mirror_and_exit, args=(tmp_path / "child",))
        child.start()
        child.join(10)
        if child.is_alive():
            child.kill()
            child.join()
    assert 0 == child.exitcode


def test_a_listener_that_does_not_bind_in_time_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def never_binds(*args: Any, **kwargs: Any) -> None:
        await asyncio.sleep(3600)

    before = shared.users()
    monkeypatch.setattr(running, "START_TIMEOUT", 0.2)
    monkeypatch.setattr(running, "listen", never_binds)
    with pytest.raises(MirrorError, match=r"did not start within 0\.2 s"):
        Listener(ListenOptions(port=0, directory=tmp_path), lambda *_: None).start()
    after(before)


def test_a_call_on_a_busy_loop_gives_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(running, "CALL_TIMEOUT", 0.2)
    listener = Listener(ListenOptions(port=0, directory=tmp_path), lambda *_: None)
    listener.start()
    try:
        with pytest.raises(MirrorError, match=r"did not answer within 0\.2 s"):
            listener.call(lambda: time.sleep(0.6))
    finally:
        listener.stop()


class _SlowToRead(Listener):
    """Reading ``_loop`` takes a while: two threads stopping at once both read it in the window."""

    @property  # type: ignore[override]
    def _loop(self) -> asyncio.AbstractEventLoop | None:
        value = self.__dict__.get("_loop_value")
        time.sleep(0.05)  # the other thread reads the same value meanwhile
        return value

    @_loop.setter
    def _loop(self, value: asyncio.AbstractEventLoop | None) -> None:
        self.__dict__["_loop_value"] = value


def test_two_threads_stopping_at_once_release_the_loop_once(tmp_path: Path) -> None:
    before = shared.users()
    with Mirror(tmp_path / "other") as other:
        listener = _SlowToRead(ListenOptions(port=0, directory=tmp_path / "slow"), lambda *_: None)
        listener.start()
        stoppers = [threading.Thread(target=listener.stop) for _ in range(2)]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        assert before + 1 == shared.users()  # the other mirror still has its loop
        assert other.wait_for(0, timeout=0) == []
    after(before)


def _stop_the_inherited_then_run_two(parent: Mirror, directory: Path) -> None:
    started = time.monotonic()
    parent.reset()  # the parent's listener: its loop's thread is not in this process
    with pytest.raises(RuntimeError, match="not running"):
        parent.respond_with(status=429)
    parent.stop()
    assert time.monotonic() - started < 1.0
    assert 0 == shared.users()
    first = Mirror(directory / "a").start()
    second = Mirror(directory / "b").start()
    assert 2 == shared.users()
    first.stop()
    second.respond_with(status=429)  # the loop still runs for the second
    second.stop()
    assert 0 == shared.users() and not shared.running()


def test_a_forked_child_drops_an_inherited_mirror_and_keeps_its_own(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    with Mirror(tmp_path / "parent") as parent:
        child = context.Process(target=_stop_the_inherited_then_run_two, args=(parent, tmp_path / "child"))
        child.start()
        child.join(20)
        if child.is_alive():
            child.kill()
            child.join()
        assert parent.respond_with(status=429) is None  # the parent's own is untouched
    assert 0 == child.exitcode


def test_a_release_without_its_acquire_keeps_the_count_at_none() -> None:
    before = shared.users()
    if before:
        pytest.skip("another mirror of this process is running")
    shared.release()
    assert 0 == shared.users()


def test_a_second_stop_waits_for_the_first_and_a_reset_meanwhile_is_harmless(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    short = functools.partial(ListenOptions, timeouts=Timeouts(grace=1.0))
    monkeypatch.setattr(mirror_module, "ListenOptions", short)
    mirror = Mirror(tmp_path).start()
    listener = mirror._listener
    assert listener is not None and listener.options.timeouts.grace == 1.0
    with socket.create_connection(("127.0.0.1", mirror.port)) as client:  # a body in flight: the grace period
        client.sendall(b"POST /api/1/envelope/?sentry_key=k HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{}\n")
        time.sleep(0.2)
        first = threading.Thread(target=mirror.stop)
        first.start()
        time.sleep(0.1)
        mirror.reset()  # stopping: nothing to clear, no error
        mirror.stop()
        assert listener.stopped is not None  # the snapshot is closed when the second stop returns
        first.join()
