"""Rate limits as an SDK keeps them (sentry_mirror.core.ratelimits): the header, the
limits kept from answers, and the data category of each item type and endpoint."""

from __future__ import annotations

from sentry_mirror.core.ratelimits import (
    RateLimits,
    categories_of,
    category_of,
    parse_rate_limits,
    record_categories,
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
