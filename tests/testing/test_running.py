"""The listener on the shared loop: one thread for every running mirror, joined after the last."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentry_mirror.errors import MirrorError
from sentry_mirror.io.listener import ListenOptions
from sentry_mirror.testing import Mirror
from sentry_mirror.testing import loop as shared
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
