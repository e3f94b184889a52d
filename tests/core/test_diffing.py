"""Diffing two reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sentry_mirror.core import diffing, report
from sentry_mirror.io.snapshot import iter_records
from tests.factories import make_envelope, make_event, make_record, make_request

GOLDEN = Path(__file__).resolve().parent.parent / "data" / "v1-sentry-python-2.75.0.jsonl.zst"
T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)


def capture(*events: dict[str, Any], version: str = "2.75.0") -> report.Report:
    records = []
    for n, event in enumerate(events):
        body = make_envelope({"sdk": {"name": "sentry.python", "version": version}}, [({"type": "event"}, event)])
        request = make_request(path="/api/1/envelope/", body=body, query="sentry_key=k")
        records.append(make_record(request, received_at=T0 + timedelta(seconds=n), remote_addr="127.0.0.1:1"))
    return report.build_report(records)


def test_same_records_no_differences() -> None:
    a = report.build_report(iter_records([GOLDEN]))
    b = report.build_report(iter_records([GOLDEN]))
    diff = diffing.diff_reports(a, b)
    assert diff.empty and [] == diff.failures(list(diffing.CONDITIONS))
    assert {"schema": "sentry-mirror-diff", "version": 1, "empty": True} == {
        k: diff.to_json()[k] for k in ("schema", "version", "empty")
    }


def test_send_default_pii_on_shows_exactly_the_new_personal_data() -> None:
    """The same app, with send_default_pii off then on: sentry-python adds the user's IP and
    the request's cookies and headers; the diff names those fields and nothing else."""
    request = {"url": "http://shop.example/checkout", "method": "POST"}
    off = capture(make_event(request=request), make_event(request=request))
    pii_request = {
        **request,
        "cookies": {"sessionid": "s3cr3t"},
        "headers": {"Authorization": "Bearer abcdefgh12345678"},
    }
    on = capture(*[make_event(request=pii_request, user={"ip_address": "203.0.113.7"})] * 2)
    diff = diffing.diff_reports(off, on)
    assert [
        ("event", "request.cookies.sessionid", "cookie"),
        ("event", "request.cookies.sessionid", "session_id"),
        ("event", "request.headers.Authorization", "auth_token"),
        ("event", "user.ip_address", "ip"),
    ] == [(p["item_type"], p["path"], p["kind"]) for p in diff.pii["new"]]
    assert [] == diff.pii["gone"]
    assert [
        "request.cookies",
        "request.cookies.sessionid",
        "request.headers",
        "request.headers.Authorization",
        "user",
        "user.ip_address",
    ] == [f["path"] for f in diff.fields["new"]]
    assert ([], [], []) == (diff.fields["lost"], diff.fields["changed"], diff.counts)
    assert [] == diff.groups["new"] + diff.groups["gone"] + diff.groups["changed"]
    assert ["new-fields: 6", "new-pii: 4"] == diff.failures(["new-fields", "lost-fields", "new-pii", "new-groups"])
    assert [] == diffing.diff_reports(on, off).failures(["new-pii", "new-fields"])
    assert ["lost-fields: 6"] == diffing.diff_reports(on, off).failures(["lost-fields"])


def test_groups_counts_sizes_and_coverage() -> None:
    a = capture(make_event(), make_event(), make_event(tags={"a": "1"}))
    b = capture(
        make_event(),
        make_event(exception={"values": [{"type": "KeyError", "value": "7"}]}, extra={"blob": "x" * 5000}),
        version="2.76.0",
    )
    diff = diffing.diff_reports(a, b)
    assert [
        {"what": "item_type", "key": "event", "a": 3, "b": 2},
        {"what": "endpoint", "key": "envelope", "a": 3, "b": 2},
        {"what": "sdk", "key": "sentry.python 2.75.0", "a": 3, "b": 0},
        {"what": "sdk", "key": "sentry.python 2.76.0", "a": 0, "b": 2},
    ] == diff.counts
    assert [("ZeroDivisionError: division by zero", 3, 1)] == [
        (g["title"], g["a"], g["b"]) for g in diff.groups["changed"]
    ]
    assert [("KeyError: 7", 0, 1)] == [(g["title"], g["a"], g["b"]) for g in diff.groups["new"]]
    assert ["tags", "tags.a"] == [f["path"] for f in diff.fields["lost"]]
    assert {"extra", "extra.blob"} == {f["path"] for f in diff.fields["new"]}
    assert [("event", "p50"), ("event", "p95"), ("event", "max")] == [
        (s["item_type"], s["measure"]) for s in diff.sizes
    ]
    assert ["new-groups: 1", "size-growth: 3"] == diff.failures(["new-groups", "lost-groups", "size-growth"])
    assert ["new-groups: 1"] == diff.failures(["new-groups", "new-groups"])
    with pytest.raises(ValueError, match="unknown --fail-on condition"):
        diff.failures(["bogus"])


def test_coverage_threshold() -> None:
    a = capture(
        make_event(tags={"a": "1"}),
        make_event(tags={"a": "1"}),
        make_event(tags={"a": "1"}),
        make_event(tags={"a": "1"}),
    )
    b = capture(make_event(tags={"a": "1"}), make_event(tags={"a": "1"}), make_event(tags={"a": "1"}), make_event())
    assert ["tags", "tags.a"] == [f["path"] for f in diffing.diff_reports(a, b).fields["changed"]]
    assert [] == diffing.diff_reports(a, b, coverage_threshold=0.3).fields["changed"]
