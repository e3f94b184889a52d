"""Timestamps moved in their own style (sentry_mirror.core.replay.timeshift); more cases, with the
requests that carry them, are in test_rewrite.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sentry_mirror.core.replay.timeshift import format_like, format_time_z, shift_payload, shift_value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("9999-12-31T23:59:59.000000Z", "9999-12-31T23:59:59.000000Z"),  # past year 9999: as it was
        ("9999-12-31T23:59:59+00:00", "9999-12-31T23:59:59+00:00"),
        (True, True),
        (None, None),
        ("yesterday", "yesterday"),
    ],
)
def test_what_cannot_move_is_left_as_it_is(value: object, expected: object) -> None:
    assert expected == shift_value(value, 3600.0)


def test_format_time_z_writes_utc_with_microseconds() -> None:
    moment = datetime(2026, 1, 2, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=1)))
    assert "2026-01-02T03:05:06.000007Z" == format_time_z(moment)
    assert "2026-01-02T03:05:06.000007Z" == format_like(moment, "not a timestamp")


def test_shift_payload_reads_breadcrumbs_as_a_list_or_values() -> None:
    listed = {"breadcrumbs": [{"timestamp": 10}]}
    valued = {"breadcrumbs": {"values": [{"timestamp": 10.5}, "junk"]}}
    assert shift_payload("event", listed, 5) and shift_payload("event", valued, 5)
    assert [{"timestamp": 15}] == listed["breadcrumbs"]
    assert [{"timestamp": 15.5}, "junk"] == valued["breadcrumbs"]["values"]
    assert not shift_payload("attachment", {"timestamp": 1}, 5)
    assert not shift_payload("event", {"timestamp": "now"}, 5)
