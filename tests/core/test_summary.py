"""Titles, as the live line and the readers show them, derived from recorded requests."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pytest

from sentry_mirror.core import ingest, record
from sentry_mirror.core.summary import event_title, item_title, record_facts, record_title
from tests.factories import EVENT_ID, make_envelope, make_event


def recorded(path: str, body: bytes = b"", *, method: str = "POST", query: str = "sentry_key=k", content_type: str | None = None) -> dict[str, object]:
    headers = (("Content-Type", content_type),) if content_type else ()
    request = ingest.Request(method, path, query, headers, body)
    return record.build(request, ingest.handle(request), received_at=datetime(2026, 11, 23, tzinfo=UTC), remote_addr=None)


EVENT = orjson.dumps(make_event())


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (recorded("/api/1/envelope/", make_envelope()), "ZeroDivisionError: division by zero"),
        (
            recorded("/api/1/envelope/", make_envelope(items=[({"type": "attachment"}, b"x"), ({"type": "transaction"}, b'{"transaction":"GET /a"}')])),
            "GET /a",
        ),
        (recorded("/api/1/envelope/", make_envelope(items=[({"type": "client_report"}, b"{}")])), None),
        (recorded("/api/1/envelope/", b"not an envelope"), None),
        (recorded("/api/1/store/", EVENT), "ZeroDivisionError: division by zero"),
        (recorded("/api/1/store/", method="GET", query="sentry_key=k&sentry_data=" + '{"message":"from%20a%20pixel"}'), "from a pixel"),
        (recorded("/api/1/cron/nightly/k/", method="GET", query="status=ok"), "nightly ok"),
        (
            recorded("/api/1/security/", b'{"csp-report":{"violated-directive":"img-src","blocked-uri":"http://evil.test/x.png"}}', content_type="application/csp-report"),
            "CSP: img-src blocked http://evil.test/x.png",
        ),
        (recorded("/api/1/unreal/k/", b"UE4 crash", query=""), "unreal crash report"),
        (recorded("/api/1/otlp/v1/traces", b"{}", content_type="application/json"), None),
    ],
    ids=["envelope-event", "envelope-transaction", "client-report-only", "unparsable", "store", "store-get", "cron", "csp", "unreal", "otlp"],
)
def test_record_title(entry: dict[str, object], expected: str | None) -> None:
    assert expected == record_title(entry)


def test_record_title_of_a_base64_body_with_binary_attachment() -> None:
    entry = recorded("/api/1/envelope/", make_envelope(items=[({"type": "attachment"}, b"\xff\x00"), ({"type": "event"}, EVENT)]))
    assert entry["body_base64"] is True
    assert base64.b64decode(entry["body"])  # stored as base64, still titled
    assert "ZeroDivisionError: division by zero" == record_title(entry)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"exception": {"values": [{"type": "KeyError", "value": "'a'"}, {"type": "ValueError", "value": "bad"}]}}, "ValueError: bad"),
        ({"exception": [{"type": "OnlyType"}]}, "OnlyType"),
        ({"logentry": {"message": "user %s logged in", "formatted": "user 42 logged in"}}, "user 42 logged in"),
        ({"message": "plain"}, "plain"),
        ({"message": "x" * 500}, "x" * 199 + "…"),
        ({"message": "two\nlines"}, "two lines"),
        ({}, None),
        ("not an object", None),
    ],
)
def test_event_title(event: object, expected: str | None) -> None:
    assert expected == event_title(event)


def test_item_titles() -> None:
    assert "GET /x" == item_title("transaction", {"transaction": "GET /x"})
    assert "a log (+2 more)" == item_title("log", {"items": [{"body": "a log"}, {}, {}]})
    assert "session exited" == item_title("session", {"status": "exited"})
    assert "client report: 5 dropped" == item_title("client_report", {"discarded_events": [{"quantity": 2}, {"quantity": 3}]})
    assert "<unlabeled event>" == item_title("event", {"event_id": EVENT_ID})


@pytest.mark.parametrize(
    "entry",
    [
        recorded("/api/1/envelope/", make_envelope()),
        recorded("/api/1/store/", EVENT),
        recorded("/api/1/cron/nightly/k/", method="GET", query="status=ok"),
        recorded("/api/1/unreal/k/", b"UE4 crash", query=""),
    ],
    ids=["envelope", "store", "cron", "unreal"],
)
def test_records_without_facts_in_their_summary_get_them_from_the_body(entry: dict[str, object]) -> None:
    """Records written before the summary held the facts read the same."""
    stored = record_facts(entry)
    assert stored.title is not None
    older = {**entry, "summary": {k: v for k, v in entry["summary"].items() if k not in ("title", "level", "environment", "release")}}  # type: ignore[union-attr]
    assert stored == record_facts(older)


def test_an_item_too_big_for_relay_is_not_parsed_for_its_facts() -> None:
    """A 200 MiB event (under the body cap, answered 413) was parsed for its title: 0.3 s of
    the listener's GIL and three times its size in memory. Past FACTS_MAX it is left alone;
    an item under it still gives its facts."""
    from sentry_mirror.core import envelope
    from sentry_mirror.core.summary import FACTS_MAX, envelope_facts

    def facts(message_size: int) -> object:
        event = b'{"message": "' + b"A" * message_size + b'", "level": "error"}'
        body = b'{"event_id": "' + EVENT_ID.encode() + b'"}\n{"type": "event"}\n' + event + b"\n"
        return envelope_facts(envelope.parse(body))

    assert "error" == facts(1000).level  # type: ignore[attr-defined]
    assert (None, None) == (facts(FACTS_MAX).title, facts(FACTS_MAX).level)  # type: ignore[attr-defined]
