"""Records into Request/Envelope/Item: envelopes parsed, other endpoints synthesised, odd
records skipped with a warning, never a traceback."""

from __future__ import annotations

import base64
import warnings
import zlib
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from sentry_mirror.core.record import Record
from sentry_mirror.testing.mirror import _envelope
from sentry_mirror.testing.model import envelope_of, request_of
from tests.factories import make_envelope, make_event, make_multipart, make_record, make_request

STORE_PATH = "/api/42/store/"


def test_an_envelope_record_gives_its_items() -> None:
    body = make_envelope(items=[({"type": "event"}, make_event()), ({"type": "trace-metric"}, {"a": 1})])
    request = request_of(Record(make_record(make_request(body=body))))
    envelope = envelope_of(request)
    assert ["event", "trace_metric"] == [item.type for item in envelope.items]  # canonical spelling
    assert "ZeroDivisionError" == envelope.items[0].json["exception"]["values"][0]["type"]
    assert envelope.items[0].request is request
    assert ("POST", "envelope", 200, "42") == (request.method, request.endpoint, request.status, request.project)
    assert body == request.body


def test_a_store_body_in_any_encoding_is_one_event_item() -> None:
    event = make_event()
    for body in (
        orjson.dumps(event),
        base64.b64encode(orjson.dumps(event)),
        base64.b64encode(zlib.compress(orjson.dumps(event))),
    ):
        envelope = envelope_of(request_of(Record(make_record(make_request(path=STORE_PATH, body=body)))))
        assert [("event", event)] == [(item.type, item.json) for item in envelope.items]
        assert {} == envelope.headers


def test_a_stored_transaction_is_a_transaction_item() -> None:
    event = make_event(type="transaction", transaction="/x")
    body = orjson.dumps(event)
    envelope = envelope_of(request_of(Record(make_record(make_request(path=STORE_PATH, body=body)))))
    assert ["transaction"] == [item.type for item in envelope.items]


def test_a_security_report_is_one_item_with_the_whole_body() -> None:
    body = b'{"csp-report": {"document-uri": "https://example.com/"}}'
    path = "/api/42/security/"
    record = make_record(make_request(path=path, body=body, headers=[("Content-Type", "application/csp-report")]))
    envelope = envelope_of(request_of(Record(record)))
    assert [("raw_security", body)] == [(item.type, item.payload) for item in envelope.items]


def test_an_envelope_that_does_not_parse_has_no_items_and_warns() -> None:
    record = make_record(make_request(body=b"not an envelope"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        envelope = envelope_of(request_of(Record(record)))
    assert () == envelope.items
    assert any("its envelope does not parse" in str(c.message) for c in caught)


def test_item_json_is_none_for_a_payload_that_is_not_json() -> None:
    body = make_envelope(items=[({"type": "attachment"}, b"\x00\x01binary")])
    (item,) = envelope_of(request_of(Record(make_record(make_request(body=body))))).items
    assert item.json is None
    assert b"\x00\x01binary" == item.payload


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
FIELDS = st.sampled_from(
    ["headers", "method", "path", "endpoint", "project_id", "response", "summary", "body", "body_base64",
     "received_at", "scripted", "id", "body_encoded", "body_decoded"]
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(FIELDS, JSON, max_size=4), st.sampled_from(["envelope", "store", "security", "minidump", "unknown"])
)
def test_odd_records_are_skipped_with_a_warning_never_a_traceback(odd: dict[str, Any], endpoint: str) -> None:
    base = make_record(make_request(body=make_envelope()), endpoint=endpoint)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        envelope = _envelope(Record({**base, **odd}))
    if envelope is None:
        assert any("skipped" in str(c.message) for c in caught)
    else:
        assert all(isinstance(item.payload, bytes) for item in envelope.items)


def test_item_json_is_a_fresh_copy_each_time() -> None:
    body = make_envelope(items=[({"type": "event"}, make_event(user={"email": "bob@example.com"}))])
    (item,) = envelope_of(request_of(Record(make_record(make_request(body=body))))).items
    del item.json["user"]
    assert {"email": "bob@example.com"} == item.json["user"]


def test_items_and_envelopes_are_hashable() -> None:
    body = make_envelope(items=[({"type": "event"}, make_event())])
    first, second = (envelope_of(request_of(Record(make_record(make_request(body=body))))) for _ in range(2))
    assert first == second and 1 == len({first, second})
    assert 1 == len({*first.items, *second.items})


def test_a_minidump_upload_is_one_item_per_part_and_its_sentry_fields_the_event() -> None:
    sentry = b'{"release": "a@1", "user": {"email": "bob@example.com"}}'
    body, content_type = make_multipart(
        ("upload_file_minidump", "crash.dmp", b"MDMP" + b"\0" * 28),
        ("sentry", None, sentry),
        ("sentry[tags][os]", None, b"linux"),
        ("log", "log.txt", b"the log"),
        ("build", None, b"42"),
    )
    record = make_record(make_request(path="/api/1/minidump/", body=body, headers=[("Content-Type", content_type)]))
    items = envelope_of(request_of(Record(record))).items
    assert [
        ("event", None, None),
        ("attachment", "event.minidump", "crash.dmp"),
        ("attachment", "event.attachment", "log.txt"),
        ("form_data", None, None),
    ] == [(item.type, item.headers.get("attachment_type"), item.headers.get("filename")) for item in items]
    assert {"release": "a@1", "user": {"email": "bob@example.com"}, "tags": {"os": "linux"}} == items[0].json
    assert items[1].payload.startswith(b"MDMP") and b"the log" == items[2].payload and b"42" == items[3].payload


def test_an_attachments_upload_is_one_item_per_file() -> None:
    body, content_type = make_multipart(("a", "a.txt", b"first"), ("b", "b.bin", b"second"))
    path = "/api/1/events/" + "a" * 32 + "/attachments/"
    record = make_record(make_request(path=path, body=body, headers=[("Content-Type", content_type)]))
    items = envelope_of(request_of(Record(record))).items
    assert [("attachment", "a.txt", b"first"), ("attachment", "b.bin", b"second")] == [
        (item.type, item.headers["filename"], item.payload) for item in items
    ]


def test_a_bare_minidump_is_one_attachment_with_the_whole_body() -> None:
    dump = b"MDMP" + b"\0" * 28
    headers = [("Content-Type", "application/octet-stream")]
    record = make_record(make_request(path="/api/1/minidump/", body=dump, headers=headers))
    (item,) = envelope_of(request_of(Record(record))).items
    assert ("attachment", "event.minidump", dump) == (item.type, item.headers["attachment_type"], item.payload)
