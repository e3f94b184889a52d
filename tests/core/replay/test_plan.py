"""The replay plan (sentry_mirror.core.replay.plan): send offsets from the recorded gaps
and the pacing, the timestamp shift, and receive order restored within the read-ahead."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sentry_mirror.core.auth import parse_dsn
from sentry_mirror.core.record import format_time, parse_time
from sentry_mirror.core.replay.plan import (
    SKIPPED_UPLOAD,
    SKIPPED_WEB_API,
    Pacing,
    in_time_order,
    make_plan,
    timeline,
    timestamp_shift,
)
from sentry_mirror.core.replay.rewrite import Options, Target
from tests.factories import accepted_envelope_record

T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)


def at(*seconds: float) -> list[dict[str, Any]]:
    return [{"received_at": format_time(T0 + timedelta(seconds=s))} for s in seconds]


# ------------------------------------------------------------------ schedule


@pytest.mark.parametrize(
    ("pacing", "expected"),
    [
        (Pacing(speed=1), [0, 1, 11, 11.5]),
        (Pacing(speed=10), [0, 0.1, 1.1, 1.15]),
        (Pacing(speed=None), [0, 0, 0, 0]),
        (Pacing(speed=1, max_gap=2), [0, 1, 3, 3.5]),
        (Pacing(speed=None, rate=4), [0, 0.25, 0.5, 0.75]),
        (Pacing(speed=1, rate=1), [0, 1, 11, 12]),
    ],
)
def test_schedule(pacing: Pacing, expected: list[float]) -> None:
    assert expected == pytest.approx([offset for _, offset in timeline(at(0, 1, 11, 11.5), pacing)])


def test_timestamp_shift_puts_the_last_request_at_the_scheduled_end() -> None:
    latest = max(data["received_at"] for data in at(0, 100))
    start = datetime(2027, 1, 1, tzinfo=UTC)
    assert (start - (T0 + timedelta(seconds=100))).total_seconds() == timestamp_shift(latest, start, 0.0)
    assert (start + timedelta(seconds=100) - (T0 + timedelta(seconds=100))).total_seconds() == timestamp_shift(
        latest, start, 100.0
    )


# ------------------------------------------------------------------ receive order


def test_records_a_little_out_of_order_are_sent_in_receive_order() -> None:
    """A listener writes a record once it has answered: overlapping requests can be written
    out of receive order. Within the read-ahead window they are put back in order; one
    further behind is sent when it is read, without a gap (offsets never go back)."""

    def seconds(records: Any) -> list[float]:
        return [(parse_time(d["received_at"]) - T0).total_seconds() for d in records]

    assert [0, 1, 2, 3, 4, 5, 6] == seconds(in_time_order(at(0, 2, 1, 3, 5, 4, 6), 2))
    assert [1, 2, 0, 3] == seconds(in_time_order(at(1, 2, 3, 0), 1))
    assert [0, 1, 1, 2, 3] == [offset for _, offset in timeline(at(1, 2, 3, 0, 4), Pacing(speed=1), 1)]


# ------------------------------------------------------------------ the plan


def test_make_plan_counts_what_it_sends_how_long_it_takes_and_the_shift() -> None:
    records = [{**r, "method": "POST"} for r in at(0, 10, 30)] + [{**at(5)[0], "method": "OPTIONS"}]
    records.append({**at(40)[0], "method": "POST", "body_truncated": True})
    skipped: Counter[str] = Counter()
    start = datetime(2027, 1, 1, tzinfo=UTC)
    target = Target(parse_dsn("http://k@127.0.0.1:1/1"))
    plan = make_plan(records, target, Options(), Pacing(speed=2), shift_timestamps=True, start=start, skipped=skipped)
    assert (3, 15.0) == (plan.count, plan.duration)
    assert {"CORS preflight (OPTIONS)": 1, "body truncated when recorded": 1} == skipped
    assert (start + timedelta(seconds=15) - (T0 + timedelta(seconds=30))).total_seconds() == plan.options.shift
    assert [0, 5, 15] == [offset for _, offset in plan.timeline()]
    assert [0, 5, 15] == [offset for _, offset in plan.timeline()]  # the records are opened afresh
    assert None is make_plan(records, target, Options(), Pacing()).options.shift


# ------------------------------------------------------------------ what is left out


def test_plan_skips_preflights_and_truncated_bodies() -> None:
    from collections import Counter

    skipped: Counter[str] = Counter()
    records = [
        accepted_envelope_record(),
        {**accepted_envelope_record(), "method": "OPTIONS"},
        {**accepted_envelope_record(), "body_truncated": True},
    ]
    plan = make_plan(records, Target(parse_dsn("http://k@127.0.0.1:1/1")), Options(), Pacing(), skipped=skipped)
    assert 1 == plan.count
    assert [records[0]] == [data for data, _ in plan.timeline()]
    assert {"CORS preflight (OPTIONS)": 1, "body truncated when recorded": 1} == dict(skipped)


def test_plan_leaves_out_web_api_requests_and_uploads_counted_apart() -> None:
    from tests.factories import make_artifact_bundle, make_record, make_upload

    skipped: Counter[str] = Counter()
    api = make_record(path="/api/0/organizations/acme/chunk-upload/", endpoint="api_chunk_upload", method="GET")
    release = make_record(path="/api/0/organizations/acme/releases/", endpoint="api_releases")
    upload = make_upload(make_artifact_bundle({"~/a.js": ("minified_source", b"x", {})}))
    records = [accepted_envelope_record(), api, release, upload]
    plan = make_plan(records, Target(parse_dsn("http://k@127.0.0.1:1/1")), Options(), Pacing(), skipped=skipped)
    assert 1 == plan.count
    assert [records[0]] == [data for data, _ in plan.timeline()]
    assert {SKIPPED_WEB_API: 2, SKIPPED_UPLOAD: 1} == dict(skipped)
