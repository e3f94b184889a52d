"""Titles, as the live line and the readers show them, derived from recorded requests."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pytest

from sentry_mirror.core import bounds, ingest, record
from sentry_mirror.core.summary import event_title, item_title, record_facts, record_title
from tests.factories import EVENT_ID, make_envelope, make_event, make_record, make_request

EVENT = orjson.dumps(make_event())


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            make_record(make_request(path="/api/1/envelope/", body=make_envelope())),
            "ZeroDivisionError: division by zero",
        ),
        (
            make_record(
                make_request(
                    path="/api/1/envelope/",
                    body=make_envelope(
                        items=[({"type": "attachment"}, b"x"), ({"type": "transaction"}, b'{"transaction":"GET /a"}')]
                    ),
                )
            ),
            "GET /a",
        ),
        (
            make_record(
                make_request(path="/api/1/envelope/", body=make_envelope(items=[({"type": "client_report"}, b"{}")]))
            ),
            None,
        ),
        (make_record(make_request(path="/api/1/envelope/", body=b"not an envelope")), None),
        (make_record(make_request(path="/api/1/store/", body=EVENT)), "ZeroDivisionError: division by zero"),
        (
            make_record(
                make_request(
                    path="/api/1/store/",
                    body=b"",
                    query="sentry_key=k&sentry_data=" + '{"message":"from%20a%20pixel"}',
                    method="GET",
                )
            ),
            "from a pixel",
        ),
        (
            make_record(make_request(path="/api/1/cron/nightly/k/", body=b"", query="status=ok", method="GET")),
            "nightly ok",
        ),
        (
            make_record(
                make_request(
                    path="/api/1/security/",
                    body=b'{"csp-report":{"violated-directive":"img-src","blocked-uri":"http://evil.test/x.png"}}',
                    headers=[("Content-Type", "application/csp-report")],
                )
            ),
            "CSP: img-src blocked http://evil.test/x.png",
        ),
        (make_record(make_request(path="/api/1/unreal/k/", body=b"UE4 crash", query="")), "unreal crash report"),
        (
            make_record(
                make_request(path="/api/1/otlp/v1/traces", body=b"{}", headers=[("Content-Type", "application/json")])
            ),
            None,
        ),
    ],
    ids=[
        "envelope-event",
        "envelope-transaction",
        "client-report-only",
        "unparsable",
        "store",
        "store-get",
        "cron",
        "csp",
        "unreal",
        "otlp",
    ],
)
def test_record_title(entry: dict[str, object], expected: str | None) -> None:
    assert expected == record_title(entry)


def test_record_title_of_a_base64_body_with_binary_attachment() -> None:
    entry = make_record(
        make_request(
            path="/api/1/envelope/",
            body=make_envelope(items=[({"type": "attachment"}, b"\xff\x00"), ({"type": "event"}, EVENT)]),
        )
    )
    assert entry["body_base64"] is True
    assert base64.b64decode(entry["body"])  # stored as base64, still titled
    assert "ZeroDivisionError: division by zero" == record_title(entry)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            {"exception": {"values": [{"type": "KeyError", "value": "'a'"}, {"type": "ValueError", "value": "bad"}]}},
            "ValueError: bad",
        ),
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
    assert "client report: 5 dropped" == item_title(
        "client_report", {"discarded_events": [{"quantity": 2}, {"quantity": 3}]}
    )
    assert "<unlabeled event>" == item_title("event", {"event_id": EVENT_ID})


@pytest.mark.parametrize(
    "entry",
    [
        make_record(make_request(path="/api/1/envelope/", body=make_envelope())),
        make_record(make_request(path="/api/1/store/", body=EVENT)),
        make_record(make_request(path="/api/1/cron/nightly/k/", body=b"", query="status=ok", method="GET")),
        make_record(make_request(path="/api/1/unreal/k/", body=b"UE4 crash", query="")),
    ],
    ids=["envelope", "store", "cron", "unreal"],
)
def test_records_without_facts_in_their_summary_get_them_from_the_body(entry: dict[str, object]) -> None:
    """Records written before the summary held the facts read the same."""
    stored = record_facts(entry)
    assert stored.title is not None
    older = {
        **entry,
        "summary": {k: v for k, v in entry["summary"].items() if k not in ("title", "level", "environment", "release")},
    }  # type: ignore[union-attr]
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


# ---------------------------------------------------------------- bounded summaries (issue 12)

KEY = "0123456789abcdef0123456789abcdef"


def _handle(body: bytes) -> ingest.Outcome:
    request = ingest.Request("POST", "/api/1/envelope/", query=f"sentry_key={KEY}&sentry_version=7", body=body)
    return ingest.handle(request)


def test_an_envelope_of_many_items_lists_a_bounded_number_in_its_summary() -> None:
    """900k empty items made a 103 MiB record line: the summary keeps the first
    MAX_SUMMARY_ITEMS, says how many there were, and the body keeps them all."""
    count = bounds.MAX_SUMMARY_ITEMS + 500
    body = orjson.dumps({"event_id": EVENT_ID}) + b"\n" + b'{"type":"span","length":0}\n\n' * count
    outcome = _handle(body)
    assert 200 == outcome.response.status
    assert bounds.MAX_SUMMARY_ITEMS == len(outcome.items)
    assert {"type": "span", "size": 0, "headers": {"type": "span", "length": 0}} == outcome.items[-1]
    assert any(f"{bounds.MAX_SUMMARY_ITEMS:,} of its {count:,} items" in note for note in outcome.notes)
    assert body == outcome.body
    entry = record.build(
        ingest.Request("POST", "/api/1/envelope/", body=body), outcome, received_at=datetime.now(UTC), remote_addr=None
    )
    assert count == entry["summary"]["items_total"]


def test_a_few_items_are_all_listed_without_a_note() -> None:
    body = orjson.dumps({"event_id": EVENT_ID}) + b"\n" + b'{"type":"span","length":0}\n\n' * 3
    outcome = _handle(body)
    assert 3 == len(outcome.items) and not outcome.notes


def test_huge_header_values_are_cut_in_the_summary_but_kept_in_the_body() -> None:
    """A 198 MiB envelope header line cost the listener 14 times its size, much of it
    in the record's copy of the header: the summary keeps header strings cut short."""
    long = "A" * (bounds.MAX_HEADER_STRING * 3)
    header = {"event_id": EVENT_ID, "sdk": {"name": "sentry.python", "version": "2"}, "x": long, "list": [long, 1]}
    item_header = {"type": "attachment", "length": 1, "filename": long}
    body = orjson.dumps(header) + b"\n" + orjson.dumps(item_header) + b"\nZ\n"
    outcome = _handle(body)
    assert 200 == outcome.response.status
    kept = outcome.envelope_header
    assert kept is not None and kept["event_id"] == EVENT_ID and kept["sdk"] == header["sdk"]
    assert len(kept["x"]) <= bounds.MAX_HEADER_STRING + 1 and kept["x"].startswith("AAAA") and kept["x"].endswith("…")
    assert len(kept["list"][0]) <= bounds.MAX_HEADER_STRING + 1 and 1 == kept["list"][1]
    (item,) = outcome.items
    assert len(item["headers"]["filename"]) <= bounds.MAX_HEADER_STRING + 1 and 1 == item["size"]
    assert outcome.sdk == "sentry.python/2"
    assert any("cut" in note and "header" in note for note in outcome.notes)
    assert body == outcome.body


def test_a_header_of_very_many_keys_is_cut_in_the_summary() -> None:
    header = {"event_id": EVENT_ID, **{f"k{i}": i for i in range(bounds.MAX_HEADER_NODES * 2)}}
    outcome = _handle(orjson.dumps(header) + b"\n")
    kept = outcome.envelope_header
    assert kept is not None and kept["event_id"] == EVENT_ID and len(kept) <= bounds.MAX_HEADER_NODES + 1
    assert any("cut" in note for note in outcome.notes)
