"""Rate limits as an SDK keeps them (sentry_mirror.core.ratelimits): the header, the
limits kept from answers, and the data category of each item type and endpoint."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import format_datetime

from hypothesis import given
from hypothesis import strategies as st

from sentry_mirror.core.ratelimits import (
    MAX_SECONDS,
    RateLimits,
    categories_of,
    category_of,
    parse_rate_limits,
    record_categories,
    retry_after_seconds,
)


def test_parse_rate_limits() -> None:
    header = "60:transaction:key, 2700:default;error;security:organization:quota_exceeded, bad, 10::organization"
    assert [
        (60.0, frozenset({"transaction"})),
        (2700.0, frozenset({"default", "error", "security"})),
        (10.0, frozenset()),
    ] == parse_rate_limits(header)


def test_rate_limits_as_an_sdk_keeps_them() -> None:
    limits = RateLimits()
    limits.update(200, {"x-sentry-rate-limits": "60:transaction:key"}, now=0)
    assert {"transaction"} == limits.limited(["error", "transaction"], now=59)
    assert set() == limits.limited(["transaction"], now=61)
    limits.update(429, {"retry-after": "5"}, now=100)
    assert {"error", "session"} == limits.limited(["error", "session", "internal"], now=104)
    assert set() == limits.limited(["error"], now=106)
    limits.update(429, {}, now=200)  # no header: 60 s, as SDKs default
    assert {"error"} == limits.limited(["error"], now=259)


def test_categories_of_item_types_and_endpoints() -> None:
    assert ("error", "transaction", "default") == tuple(category_of(t) for t in ("event", "transaction", "nope"))
    assert ("error", "attachment", "internal") == categories_of(("event", "attachment", "attachment", "client_report"))
    envelope = {"endpoint": "envelope", "summary": {"items": [{"type": "event"}, {"type": "event"}, {"type": "span"}]}}
    assert ("error", "span") == record_categories(envelope)
    assert () == record_categories({"endpoint": "tunnel", "summary": None})
    assert ("security",) == record_categories({"endpoint": "security"})
    assert ("default",) == record_categories({"endpoint": "something-new"})


def test_seconds_that_are_not_finite_or_below_zero_are_skipped_and_huge_ones_cut() -> None:
    header = "inf:transaction:organization, nan:error:key, -5:span:key, 1e308:log_item:key, 7:default:key"
    assert [(MAX_SECONDS, frozenset({"log_item"})), (7.0, frozenset({"default"}))] == parse_rate_limits(header)
    assert [retry_after_seconds(v) for v in ("inf", "nan", "-1", "1e300", "3")] == [None, None, None, MAX_SECONDS, 3.0]


def test_a_429_whose_header_cannot_be_read_limits_everything_by_retry_after() -> None:
    limits = RateLimits()
    limits.update(429, {"x-sentry-rate-limits": "nan:transaction:organization", "retry-after": "inf"}, now=0)
    assert {"error"} == limits.limited(["error"], now=59)  # the 60 s default
    assert set() == limits.limited(["error"], now=61)


def test_retry_after_as_an_http_date_is_read_against_the_wall_clock() -> None:
    wall = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC).timestamp()
    date = format_datetime(datetime(2026, 12, 3, 12, 0, 30, tzinfo=UTC), usegmt=True)
    assert 30.0 == retry_after_seconds(date, wall)
    assert retry_after_seconds(date) is None  # no wall clock: unreadable
    limits = RateLimits()
    limits.update(429, {"retry-after": date}, now=wall, wall=wall)
    assert {"error"} == limits.limited(["error"], now=wall + 29)
    assert set() == limits.limited(["error"], now=wall + 31)


_VALUES = st.one_of(st.floats().map(str), st.text(max_size=30), st.integers().map(str))


@given(st.lists(st.tuples(st.sampled_from(["retry-after", "x-sentry-rate-limits"]), _VALUES), max_size=4),
       st.sampled_from([200, 429, 503]))  # fmt: skip
def test_any_header_gives_finite_limits(headers: list[tuple[str, str]], status: int) -> None:
    limits = RateLimits()
    limits.update(status, dict(headers), now=1000.0, wall=1000.0)
    assert all(math.isfinite(until) and 1000.0 <= until <= 1000.0 + MAX_SECONDS for until in limits.until.values())
    for name, value in headers:
        if name == "x-sentry-rate-limits":
            assert all(0 <= seconds <= MAX_SECONDS for seconds, _ in parse_rate_limits(value))
