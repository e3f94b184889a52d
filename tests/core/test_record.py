"""The snapshot record's own helpers (the record format itself is tested with the reader and
writer in tests/io/test_snapshot.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import example, given
from hypothesis import strategies as st

from sentry_mirror.core.record import format_time, parse_time


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
    )
)
@example(datetime(2026, 11, 23, 10, 0, 1, 0, tzinfo=UTC))
@example(datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC))
def test_format_time_writes_fixed_width_utc_and_reads_back(moment: datetime) -> None:
    m = moment.astimezone(UTC)
    expected = f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}.{m.microsecond:06d}Z"
    assert expected == format_time(moment)
    assert moment == parse_time(format_time(moment))
