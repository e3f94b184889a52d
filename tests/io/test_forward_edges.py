"""Forward mode at its edges: a listener stopping while the upstream still has a request,
big bodies rewritten off the event loop, an upstream failing for a while."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from sentry_mirror.io import forward
from sentry_mirror.io.forward import ForwardOptions
from sentry_mirror.io.forwarding_app import Forwarding
from sentry_mirror.io.recorder import Recorder
from sentry_mirror.io.server import create_app, serve
from sentry_mirror.io.snapshot import iter_records
from tests.factories import make_envelope
from tests.stubs import UPSTREAM_KEY, Forwarder, Stub, auth, closed_port_dsn, envelope_body, post


async def test_a_request_still_upstream_when_the_listener_stops_is_recorded_undelivered(
    stubs: Callable[..., Awaitable[Stub]], forwarder: Callable[..., Awaitable[Forwarder]]
) -> None:
    """After the grace period the request is given up, and its answer record says why: it is
    undelivered (``replay --undelivered`` sends it), not forgotten."""
    upstream = await stubs(delay=8.0)
    mirror = await forwarder(upstream=upstream.dsn(), timeout=60.0)
    sending = asyncio.ensure_future(post(f"{mirror.url}/api/5/envelope/", envelope_body()[1], auth()))
    for _ in range(200):
        if upstream.received:
            break
        await asyncio.sleep(0.01)
    assert upstream.received
    await mirror.running.stop(0.2)
    await mirror.forwarding.close(0.2)
    await mirror.recorder.close()
    sending.cancel()
    [request], [answered] = mirror.records()
    assert request["id"] == answered["request_id"]
    assert (None, False) == (answered["status"], answered["delivered"])
    assert "the listener stopped before the upstream answered" in answered["error"]
    assert [(0, 1)] == [(t.delivered, t.undelivered) for t in mirror.forwarding.tallies]


@pytest.mark.parametrize(("size", "in_thread"), [(1000, False), (2 * forward.THREAD_THRESHOLD, True)])
async def test_big_bodies_are_rewritten_off_the_event_loop(
    stubs: Callable[..., Awaitable[Stub]],
    forwarder: Callable[..., Awaitable[Forwarder]],
    monkeypatch: pytest.MonkeyPatch,
    size: int,
    in_thread: bool,
) -> None:
    """A body whose envelope header must change is decoded and rewritten: over the threshold
    that happens in a worker thread, so the loop keeps answering other SDK requests."""
    threads: list[bool] = []
    original = forward.prepare

    def watched(*args: Any) -> Any:  # in the rewriters' own pool, not the loop's default one
        threads.append(threading.current_thread().name.startswith("sentry-mirror-rewrite"))
        return original(*args)

    monkeypatch.setattr(forward, "prepare", watched)
    upstream = await stubs()
    mirror = await forwarder(upstream=upstream.dsn())
    event = {"event_id": "a" * 32, "message": "x" * size}
    body = make_envelope({"event_id": "a" * 32, "dsn": "http://other@elsewhere/5"}, [({"type": "event"}, event)])
    status, _, _, _ = await post(f"{mirror.url}/api/5/envelope/", body, auth())
    assert 200 == status
    assert [in_thread] == threads
    [(_, _, _, sent)] = upstream.received
    header = orjson.loads(sent.split(b"\n", 1)[0])
    assert header["dsn"] == f"http://{UPSTREAM_KEY}@127.0.0.1:{upstream.port}/5"


async def test_an_upstream_failing_for_a_while_is_said_once_not_per_request(
    forwarder: Callable[..., Awaitable[Forwarder]], caplog: pytest.LogCaptureFixture
) -> None:
    """The SDK keeps getting the mirror's answers; the log says the upstream fails (without
    its key), once per interval, not once per request."""
    mirror = await forwarder(upstream=closed_port_dsn())
    with caplog.at_level(logging.WARNING, logger="sentry_mirror.io.forwarding_app"):
        for _ in range(5):
            assert 200 == (await post(f"{mirror.url}/api/5/envelope/", envelope_body()[1], auth()))[0]
        said = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
        assert 1 == len(said)
        assert "ConnectionRefusedError" in said[0] and UPSTREAM_KEY not in said[0]
        await mirror.stop()  # the failures since that warning are said at the stop
    assert "failed 4 more time(s) before the stop" in caplog.records[-1].getMessage()


async def test_two_mirrors_forwarding_to_each_other_stop_at_once(tmp_path: Path) -> None:
    """A forwards to B and B to A (names no start-up check can tell apart): the request that
    comes back to A carries A's Via mark, is recorded and refused with 508, and is not sent
    on again; B, whose upstream (A) failed, has it as undelivered; nothing loops."""
    ports = [_free_port(), _free_port()]
    mirrors = []
    for me, other in ((0, 1), (1, 0)):
        recorder = Recorder(tmp_path / f"m{me}")
        await recorder.start()
        forwarding = Forwarding(ForwardOptions(upstream=f"http://{UPSTREAM_KEY}@127.0.0.1:{ports[other]}/5"), recorder)
        running = await serve(create_app(recorder, forwarding=forwarding), "127.0.0.1", ports[me])
        mirrors.append((running, forwarding, recorder))
    try:
        status, _, _, _ = await post(f"http://127.0.0.1:{ports[0]}/api/5/envelope/", envelope_body()[1], auth())
    finally:
        for running, forwarding, recorder in mirrors:
            await running.stop(1.0)
            await forwarding.close(1.0)
            await recorder.close()
    assert 200 == status  # B answered A (its own answer: its upstream failed), and A the SDK
    first, back = [r.data for r in iter_records([tmp_path / "m0"])]
    assert (200, 508) == (first["response"]["status"], back["response"]["status"])
    assert "came back" in back["error"] and "forwarded_to" not in back
    vias = [v for k, v in back["headers"] if k.lower() == "via"]  # each mirror on the way adds its own
    assert [f"1.1 {mirrors[0][1].marker}", f"1.1 {mirrors[1][1].marker}"] == vias
    [answered] = [a.data for a in iter_records([tmp_path / "m1"], answers=True) if a.data.get("kind")]
    assert (508, False) == (answered["status"], answered["delivered"])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.parametrize(("mode", "status"), [("answer", 200), ("pass", 504)])
async def test_the_sdk_gets_an_answer_when_the_listener_stops_before_the_upstream_did(
    stubs: Callable[..., Awaitable[Stub]], forwarder: Callable[..., Awaitable[Forwarder]], mode: str, status: int
) -> None:
    """At the end of the grace period a request still waiting on the upstream is answered
    (the mirror's own answer, or a 504 in pass mode), not cut off without one; and the
    listener stops at the end of its grace period, not the upstream's timeout."""
    upstream = await stubs(delay=8.0)
    mirror = await forwarder(upstream=upstream.dsn(), timeout=60.0, failure=mode)
    sending = asyncio.ensure_future(post(f"{mirror.url}/api/5/envelope/", envelope_body()[1], auth()))
    for _ in range(200):
        if upstream.received:
            break
        await asyncio.sleep(0.01)
    started = asyncio.get_running_loop().time()
    await mirror.running.stop(0.3)
    assert asyncio.get_running_loop().time() - started < 2.0
    answered_status, _, body, _ = await sending
    assert status == answered_status
    if mode == "pass":
        assert b"stopped before the upstream answered" in body
    await mirror.forwarding.close(0.2)
    await mirror.recorder.close()
    [request], [answered] = mirror.records()
    assert (request["id"], False) == (answered["request_id"], answered["delivered"])
    assert (mode == "pass") == answered["returned"]  # the 504 stands for the upstream's failure


async def test_a_request_whose_record_cannot_be_serialised_still_goes_upstream(
    stubs: Callable[..., Awaitable[Stub]],
    forwarder: Callable[..., Awaitable[Forwarder]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A record the recorder cannot write (a bug) is recorded minimally, and the request is
    still sent on: the SDK gets the upstream's answer, production traffic is not lost."""
    import sentry_mirror.io.recorder as recorder_module

    real_dumps = recorder_module.dumps

    def dumps(entry: dict[str, Any]) -> bytes:
        if "boom" in entry.get("body", "") and entry["response"]["status"] != 500:
            raise ValueError("boom in dumps")
        return real_dumps(entry)

    monkeypatch.setattr(recorder_module, "dumps", dumps)
    upstream = await stubs(body=b'{"id":"upstream"}')
    mirror = await forwarder(upstream=upstream.dsn())
    event = {"event_id": "b" * 32, "message": "boom"}
    body = make_envelope({"event_id": "b" * 32}, [({"type": "event"}, event)])
    status, _, answer_body, _ = await post(f"{mirror.url}/api/5/envelope/", body, auth())
    assert (200, b'{"id":"upstream"}', 1) == (status, answer_body, len(upstream.received))
    await mirror.stop()
    [request], [answered] = mirror.records()
    assert 500 == request["response"]["status"] and "boom in dumps" in request["notes"][-1]
    assert (request["id"], True, True) == (answered["request_id"], answered["delivered"], answered["returned"])
