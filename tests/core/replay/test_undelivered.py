"""Which forwarded requests are undelivered (sentry_mirror.core.replay.undelivered), and the
answer records replay writes for what it sends."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sentry_mirror.core import answer
from sentry_mirror.core.auth import parse_dsn
from sentry_mirror.core.record import dumps, format_time
from sentry_mirror.core.replay.results import Result
from sentry_mirror.core.replay.rewrite import Target, rewrite_request
from sentry_mirror.core.replay.undelivered import answer_record, find, keep, select
from sentry_mirror.io.decoder import read_records
from sentry_mirror.io.snapshot import SnapshotWriter
from tests.factories import T0, make_answer, make_record, make_request

UPSTREAM = "http://127.0.0.1:9000/1"


def forwarded(n: int, *, to: str | None = UPSTREAM) -> dict[str, Any]:
    """A request a forwarding listener sent on (``to`` None: recorded, not forwarded), ``n`` seconds after T0."""
    return make_record(make_request(), received_at=T0 + timedelta(seconds=n), forwarded_to=to)


def _time(seconds: float) -> str:
    return format_time(T0 + timedelta(seconds=seconds))


def answered(request: Mapping[str, Any], status: int | None = 200, **fields: Any) -> dict[str, Any]:
    return make_answer(dict(request), status=status, **fields)


def ids(records: Iterable[Mapping[str, Any]]) -> list[str]:
    return [data["id"] for data in records]


def test_delivered_5xx_unanswered_and_not_forwarded() -> None:
    ok, failed, silent, timeout, refused = (forwarded(n) for n in range(5))
    local = forwarded(9, to=None)
    stream = [
        ok,
        answered(ok),
        failed,
        answered(failed, 503),
        silent,
        timeout,
        answered(timeout, None, error="TimeoutError"),
        refused,
        answered(refused, 429),  # a 4xx is the upstream's own verdict: delivered
        local,
    ]
    found = find(stream)
    assert (5, 2) == (found.forwarded, found.delivered)
    assert ids([failed, silent, timeout]) == ids(keep(stream, found))
    assert ids([failed, silent, timeout]) == ids(select(lambda: stream))


def test_only_the_upstream_delivers() -> None:
    request = forwarded(0)
    stream = [request, answered(request, target="candidate"), answered(request, target="candidate", dropped=True)]
    assert [request["id"]] == ids(select(lambda: stream))


def test_an_answer_recorded_by_a_later_replay_delivers() -> None:
    """A replay's answers are in a file of its own, read after (or before) the capture."""
    first, second = forwarded(0), forwarded(1)
    capture = [first, answered(first, 502), second, answered(second, None, error="ConnectionRefusedError")]
    replayed = [answered(first, 200, via="replay", returned=False, answered_at=T0 + timedelta(days=2))]
    assert ids([second]) == ids(select(lambda: capture + replayed))
    assert ids([second]) == ids(select(lambda: replayed + capture))
    assert 2 == find(replayed + capture).forwarded


def test_nothing_forwarded_nothing_selected() -> None:
    plain = [forwarded(n, to=None) for n in range(3)]
    found = find(plain)
    assert (0, 0, 0) == (found.forwarded, found.delivered, len(found))
    assert [] == list(select(lambda: plain))


def test_a_delivering_answer_to_a_request_not_read_selects_nothing() -> None:
    request = forwarded(0)
    assert [] == list(select(lambda: [answered(request)]))


def test_ids_that_are_not_32_hex_are_kept_as_text() -> None:
    odd = {**forwarded(0), "id": "not-hex-" + "z" * 24}
    other = {**forwarded(1), "id": "short"}
    stream = [odd, other, answered(other)]
    assert [odd["id"]] == ids(select(lambda: stream))
    assert "short" not in find(stream) and 42 not in find(stream)


def test_a_damaged_answer_is_skipped_by_the_reader_and_delivers_nothing() -> None:
    """An answer whose ``delivered`` is not a boolean is warned about and skipped when read:
    its request stays undelivered (sent again rather than lost)."""
    request, other = forwarded(0), forwarded(1)
    damaged = {**answered(request), "delivered": "yes"}
    warnings: list[str] = []
    written = io.BytesIO()
    writer = SnapshotWriter(written)
    writer.write([request, damaged, other, answered(other)])
    writer.close()
    written.seek(0)
    read = [r.data for r in read_records(written, answers=True, on_warning=warnings.append)]
    assert 3 == len(read) and 1 == len(warnings) and "delivered" in warnings[0]
    assert [request["id"]] == ids(select(lambda: read))


# ------------------------------------------------------------------ the set-based definition

_ANSWER = st.tuples(
    st.sampled_from(["upstream", "candidate"]),
    st.sampled_from([200, 202, 400, 413, 429, 500, 502, 503, None]),
    st.sampled_from(["listen", "replay"]),
)
_REQUEST = st.tuples(st.booleans(), st.lists(_ANSWER, max_size=3))


@settings(max_examples=150, deadline=None)
@given(st.lists(_REQUEST, max_size=12), st.randoms(use_true_random=False))
def test_selection_is_the_set_based_definition(requests: list[Any], random: Any) -> None:
    """However requests and answers interleave (an answer may even come first), the
    selection is: forwarded, and no upstream answer below 500; in the requests' order."""
    stream: list[dict[str, Any]] = []
    expected: set[str] = set()
    order: list[str] = []
    for n, (is_forwarded, answers) in enumerate(requests):
        request = forwarded(n, to=UPSTREAM if is_forwarded else None)
        order.append(request["id"])
        records = [
            answered(request, status, target=target, via=via, error=None if status else "TimeoutError")
            for target, status, via in answers
        ]
        stream.append(request)
        stream += records
        if is_forwarded and not any(r["target"] == "upstream" and answer.delivered(r["status"]) for r in records):
            expected.add(request["id"])
    random.shuffle(stream)
    selected = ids(select(lambda: stream))
    assert expected == set(selected)
    assert selected == [i for i in ids(r for r in stream if not answer.is_answer(r)) if i in expected]
    found = find(stream)
    assert sum(forwarded for forwarded, _ in requests) == found.forwarded
    assert found.forwarded - len(expected) == found.delivered


# ------------------------------------------------------------------ what replay records


def _result(**fields: Any) -> Result:
    prepared = rewrite_request(forwarded(0), Target(parse_dsn("http://" + "f" * 32 + "@127.0.0.1:9/1")))
    return Result(prepared, 0.0, **fields)


def test_an_answer_is_recorded_as_the_upstream_answer_via_replay() -> None:
    result = _result(status=200, headers=[("Content-Type", "application/json")], body=b'{"id":"x"}', latency_ms=3.25)
    data = answer_record(result, "http://127.0.0.1:9/1", T0)
    assert data is not None and answer.problem(data) is None
    assert (result.prepared.record_id, "upstream", "replay", "http://127.0.0.1:9/1") == (
        data["request_id"],
        data["target"],
        data["via"],
        data["to"],
    )
    assert (200, True, False, False, "envelope") == (
        data["status"],
        data["delivered"],
        data["returned"],
        data["dropped"],
        data["endpoint"],
    )
    assert ('{"id":"x"}', 10, 3.25, _time(0)) == (
        data["body"],
        data["body_size"],
        data["latency_ms"],
        data["received_at"],
    )
    assert "f" * 32 not in dumps(data).decode()


def test_failures_are_recorded_undelivered_and_held_back_requests_not_at_all() -> None:
    server_error = answer_record(_result(status=503), "t", T0)
    transport = answer_record(_result(error="ConnectionRefusedError"), "t", T0)
    assert server_error is not None and transport is not None
    assert (False, False) == (server_error["delivered"], transport["delivered"])
    assert (None, "ConnectionRefusedError") == (transport["status"], transport["error"])
    assert answer_record(_result(held_back=("transaction",)), "t", T0) is None


def test_only_an_answer_from_the_server_forwarded_to_delivers() -> None:
    """A replay --to another server (a staging Sentry) leaves the request undelivered for
    the upstream it was forwarded to, in whatever order the records come."""
    first, second, third = forwarded(0), forwarded(1), forwarded(2, to="https://o1.ingest.sentry.io/42")
    capture = [first, answered(first, 503), second, answered(second, 503), third]
    elsewhere = [
        answered(first, 200, via="replay", to="http://staging:9000/7"),
        answered(third, 200, via="replay", to=UPSTREAM),
        answered(second, 200, via="replay", to=UPSTREAM),
    ]
    for stream in (capture + elsewhere, elsewhere + capture):
        found = find(stream)
        assert ids([first, third]) == ids(keep(capture, found))
        assert (3, 1) == (found.forwarded, found.delivered)
        assert {UPSTREAM: 1, "https://o1.ingest.sentry.io/42": 1} == found.targets
