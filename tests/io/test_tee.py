"""``--tee`` over real HTTP: candidates that are slow or fall behind never slow the SDK,
and every copy has an answer record (answered, dropped, or cut by the stop)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.stubs import Forwarder, Stub, envelope_body, send_many


async def test_a_slow_candidate_does_not_slow_the_sdk_and_its_answers_are_recorded(
    stubs: Callable[..., Awaitable[Stub]], forwarder: Callable[..., Awaitable[Forwarder]]
) -> None:
    """A candidate taking 1.5 s per request: the SDK's requests take about as long as without
    it (one waited-for copy would add 1.5 s); the candidate gets its copies, rewritten for its
    own project and key, and its answers are recorded (never returned)."""
    upstream = await stubs()
    slow = await stubs(delay=1.5, status=202)
    plain = await forwarder(upstream=upstream.dsn())
    baseline = await send_many(plain.url, 5)
    mirror = await forwarder(upstream=upstream.dsn(), tee=(slow.dsn("c" * 32, 9),))
    shadowed = await send_many(mirror.url, 5)
    assert shadowed < baseline + 1.0, (baseline, shadowed)
    await mirror.stop()  # the queue drains within the grace period
    assert 5 == len(slow.received)
    assert {("/api/9/envelope/", True)} == {
        (path, "sentry_key=" + "c" * 32 in h["X-Sentry-Auth"]) for _, path, h, _ in slow.received
    }
    requests, answers = mirror.records()
    candidates = [a for a in answers if a["target"] == "candidate"]
    assert sorted(r["id"] for r in requests) == sorted(a["request_id"] for a in candidates)
    assert {(202, True, False, False)} == {
        (a["status"], a["delivered"], a["returned"], a["dropped"]) for a in candidates
    }
    assert [(5, 0, 0), (5, 0, 0)] == [(t.delivered, t.undelivered, t.dropped) for t in mirror.forwarding.tallies]


async def test_a_full_candidate_queue_drops_copies_and_records_each_drop(
    stubs: Callable[..., Awaitable[Stub]], forwarder: Callable[..., Awaitable[Forwarder]]
) -> None:
    """Queue of 1 and a candidate that takes 3 s: what does not fit is dropped, and every
    request still has exactly one candidate answer record: answered, dropped, or cut by the stop."""
    from sentry_mirror.io.tee import WORKERS

    slow = await stubs(delay=3.0)
    mirror = await forwarder(tee=(slow.dsn(),), tee_queue=1)  # no upstream: answered locally
    await send_many(mirror.url, WORKERS + 6)
    await mirror.stop(0.5)
    requests, answers = mirror.records()
    assert sorted(r["id"] for r in requests) == sorted(a["request_id"] for a in answers)
    dropped = [a for a in answers if a["dropped"]]
    assert len(dropped) >= 5
    assert {(None, "queue full", False)} == {(a["status"], a["error"], a["delivered"]) for a in dropped[:5]}
    [tally] = mirror.forwarding.tallies
    assert (WORKERS + 6, len(dropped)) == (tally.delivered + tally.undelivered + tally.dropped, tally.dropped)
    assert all("forwarded_to" not in r for r in requests)  # no upstream: nothing to deliver later


async def test_stopping_records_every_copy_still_queued_or_in_flight(
    stubs: Callable[..., Awaitable[Stub]], forwarder: Callable[..., Awaitable[Forwarder]]
) -> None:
    """A candidate slower than the grace period: on stop, the copies being sent are recorded
    without an answer (undelivered) and the ones still queued as dropped; none vanishes."""
    from sentry_mirror.io.tee import WORKERS

    slow = await stubs(delay=3.0)
    mirror = await forwarder(tee=(slow.dsn(),), tee_queue=100)
    await send_many(mirror.url, WORKERS + 4)
    await mirror.stop(0.3)
    requests, answers = mirror.records()
    assert sorted(r["id"] for r in requests) == sorted(a["request_id"] for a in answers)
    outcomes = sorted((a["error"], a["dropped"], a["delivered"]) for a in answers)
    assert [("no answer: the listener stopped first", False, False)] * WORKERS + [
        ("not sent: the listener stopped first", True, False)
    ] * 4 == outcomes
    [tally] = mirror.forwarding.tallies
    assert (0, WORKERS, 4) == (tally.delivered, tally.undelivered, tally.dropped)


async def test_the_byte_bound_counts_copies_being_sent_too(
    stubs: Callable[..., Awaitable[Stub]],
    forwarder: Callable[..., Awaitable[Forwarder]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A candidate holds at most QUEUE_BYTES of bodies, queued or in its workers' hands: with
    room for about three copies and workers to spare, the fourth and later copies are dropped
    while the first three are still being sent (a bound on the queue alone would take all)."""
    from sentry_mirror.io import tee

    _, body = envelope_body()
    monkeypatch.setattr(tee, "QUEUE_BYTES", 3 * 2 * len(body) + 10)  # the wire body and the record's text
    slow = await stubs(delay=2.0)
    mirror = await forwarder(tee=(slow.dsn(),), tee_queue=100)
    await send_many(mirror.url, 6)
    await mirror.stop(3.0)
    requests, answers = mirror.records()
    dropped = {a["request_id"]: a["dropped"] for a in answers}
    # in the order the requests were written (ids sort by millisecond only: two in one are random)
    assert [False] * 3 + [True] * 3 == [dropped[r["id"]] for r in requests]
    assert 3 == len(slow.received)
