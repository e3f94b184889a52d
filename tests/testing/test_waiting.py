"""wait_for runs the predicate outside the mirror's locks (the shared loop never waits on a
test), looks at each item once, and checks its arguments."""

from __future__ import annotations

import math
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentry_mirror.testing import Item, Mirror, WaitTimeout
from tests.factories import make_envelope, make_event


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    with Mirror(tmp_path / "a") as running:
        yield running


def send(mirror: Mirror, body: bytes | None = None) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{mirror.port}/api/1/envelope/?sentry_key=k", data=body or make_envelope(), method="POST"
    )
    urllib.request.urlopen(request, timeout=20).close()


def test_a_slow_predicate_does_not_stall_the_other_mirrors(mirror: Mirror, tmp_path: Path) -> None:
    send(mirror)

    def slow(item: Item) -> bool:
        time.sleep(1.0)
        return False

    def wait() -> None:
        with pytest.raises(WaitTimeout):
            mirror.wait_for(5, slow, timeout=0.5)

    waiting = threading.Thread(target=wait)
    with Mirror(tmp_path / "b") as other:
        waiting.start()
        time.sleep(0.1)  # the predicate runs now
        sending = threading.Thread(target=send, args=(mirror,))
        sending.start()  # a record for the waiting mirror: its loop must not wait on the predicate
        time.sleep(0.1)
        started = time.monotonic()
        send(other)
        took = time.monotonic() - started
        sending.join()
        waiting.join()
    assert took < 0.5


def test_a_predicate_may_use_the_mirror(mirror: Mirror) -> None:
    send(mirror)
    seen: list[int] = []

    def rate_limit_what_follows(item: Item) -> bool:
        threading.Thread(target=send, args=(mirror,)).start()
        time.sleep(0.3)  # its record is written meanwhile
        mirror.respond_with(status=429)
        seen.append(len(mirror.events()))
        return True

    found: list[list[Item]] = []
    waiting = threading.Thread(target=lambda: found.append(mirror.wait_for(1, rate_limit_what_follows, timeout=2)))
    waiting.start()
    waiting.join(10)
    assert not waiting.is_alive()
    assert 1 == len(found[0])
    assert seen and seen[0] >= 1


def test_each_item_is_given_to_the_predicate_once(mirror: Mirror) -> None:
    calls: list[str] = []

    def counted(item: Item) -> bool:
        calls.append(item.json["message"])
        return True

    def sending() -> None:
        for n in range(20):
            send(mirror, make_envelope(items=[({"type": "event"}, make_event(message=str(n)))]))
            time.sleep(0.01)

    thread = threading.Thread(target=sending)
    thread.start()
    found = mirror.wait_for(20, counted, timeout=20)
    thread.join()
    assert [str(n) for n in range(20)] == [item.json["message"] for item in found]
    assert [str(n) for n in range(20)] == calls


@pytest.mark.parametrize(
    ("count", "timeout", "match"),
    [(None, math.nan, "timeout"), (None, -1.0, "timeout"), (-1, 1.0, "count")],
)
def test_bad_arguments_raise_at_once(mirror: Mirror, count: int | None, timeout: float, match: str) -> None:
    send(mirror)
    started = time.monotonic()
    with pytest.raises(ValueError, match=match):
        mirror.wait_for(count, timeout=timeout)
    assert time.monotonic() - started < 1.0
