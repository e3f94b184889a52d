"""One record redacted (core/redact/record.py): the summary worked out anew by the
listener's code, ids kept, ``redacted`` said; and no record a reader accepts makes it raise."""

from __future__ import annotations

import base64
import gzip
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from sentry_mirror.core import ingest, pii, record, shape
from sentry_mirror.core.grouping import records as grouped
from sentry_mirror.core.redact import BodyRedactor, Pseudonyms, Redactor, key_id
from sentry_mirror.core.report.view import JSON_ITEM_TYPES
from tests.factories import make_answer, make_envelope, make_event, make_record, make_request, sample_records
from tests.test_record_fuzz import FUZZ, odd_bodies, odd_requests

KEY = b"k" * 32
SAMPLES = [data for name in ("python", "node", "browser") for data in sample_records(name)]


def redactor(key: bytes = KEY) -> Redactor:
    return Redactor(BodyRedactor(Pseudonyms(key)), "builtin")


def listener_summary(data: dict[str, Any]) -> dict[str, Any]:
    """The summary the listener writes for a record's (decoded) body, as received."""
    headers = tuple((k, v) for k, v in data["headers"] if k.lower() != "content-encoding")
    request = ingest.Request(data["method"], data["path"], data["query"], headers, record.Record(data).body)
    return make_record(request)["summary"]


def test_the_samples_lose_their_personal_data_and_keep_their_shape() -> None:
    for data in SAMPLES:
        out = redactor().record(data)
        assert shape.problem(out) is None
        assert {"engine": "builtin", "key_id": key_id(KEY)} == {k: out["redacted"][k] for k in ("engine", "key_id")}
        assert data["summary"]["event_id"] == out["summary"]["event_id"]
        assert [i["type"] for i in data["summary"]["items"]] == [i["type"] for i in out["summary"]["items"]]
        expected = listener_summary(out)
        expected["event_id"] = data["summary"]["event_id"]
        assert expected == out["summary"]  # worked out by the listener's code, not patched
        assert out["body_size"] == len(record.Record(out).body)
        for payload, kind in grouped.events_of(out, JSON_ITEM_TYPES):
            assert [] == [f for f in pii.scan(payload, kind) if f.kind != "password"], kind
        assert "mirror" != out["auth"]["public_key"]
        assert "sentry_key=mirror" not in out["query"] + str(out["headers"])


def test_the_original_record_is_not_changed() -> None:
    data = SAMPLES[1]
    before = orjson.dumps(data)
    redactor().record(data)
    assert before == orjson.dumps(data)


def test_the_kinds_replaced_are_said_per_record() -> None:
    event = make_event(user={"email": "jane@example.com"})
    out = redactor().record(make_record(make_request(body=make_envelope(items=[({"type": "event"}, event)]))))
    assert {"email", "public_key"} <= set(out["redacted"]["kinds"])
    plain = redactor().record(make_record())
    assert [] == plain["redacted"]["kinds"]


def test_a_body_kept_compressed_is_written_decoded() -> None:
    body = make_envelope(items=[({"type": "event"}, make_event(user={"email": "jane@example.com"}))])
    data = make_record(make_request(body=body, headers=[("Content-Encoding", "gzip")]))
    data.update(
        v=record.ENCODED_BODY_VERSION,
        body_encoded=True,
        body=base64.b64encode(gzip.compress(body)).decode(),
        body_base64=True,
        content_encoding="gzip",
        body_decoded=True,
        body_size=len(body),
    )
    out = redactor().record(data)
    assert "body_encoded" not in out and record.RECORD_VERSION == out["v"] and not out["body_base64"]
    assert "jane@example.com" not in out["body"] and "<email:" in out["body"]
    assert shape.problem(orjson.loads(record.dumps(out))) is None


def test_an_answer_record_is_redacted_as_text() -> None:
    answer = make_answer(body=b'{"detail":"bad address jane@example.com"}')
    out = redactor().record(answer)
    assert "jane@example.com" not in out["body"] and out["request_id"] == answer["request_id"]


def test_pseudonyms_are_stable_under_one_key_and_differ_under_another() -> None:
    one = [redactor().record(d)["body"] for d in SAMPLES]
    two = [redactor().record(d)["body"] for d in SAMPLES]
    other = [redactor(b"another key").record(d)["body"] for d in SAMPLES]
    assert one == two
    assert one != other


def _checked(data: dict[str, Any]) -> None:
    out = orjson.loads(record.dumps(redactor().record(data)))  # as written, as read back
    assert shape.problem(out) is None
    assert out["id"] == data["id"]


@FUZZ
@given(bodies=st.lists(odd_bodies(), min_size=1, max_size=2))
def test_odd_envelopes_never_make_the_redactor_raise(bodies: list[bytes]) -> None:
    for body in bodies:
        _checked(make_record(make_request(path="/api/1/envelope/", body=body), remote_addr="203.0.113.7:1"))


@FUZZ
@given(requests=st.lists(odd_requests(), min_size=1, max_size=2), cut=st.booleans())
def test_odd_bodies_at_other_endpoints_never_make_the_redactor_raise(requests: list[ingest.Request], cut: bool) -> None:
    for request in requests:
        data = make_record(request)
        if cut:
            data.update(body_truncated=True, body=data["body"][: len(data["body"]) // 2])
        _checked(data)


@FUZZ
@given(
    body=st.binary(max_size=64),
    endpoint=st.sampled_from(["envelope", "store", "minidump", "unknown", "security", "nel", "otlp", "tunnel"]),
    decoded=st.booleans(),
    query=st.text(max_size=20),
)
def test_any_bytes_at_any_endpoint(body: bytes, endpoint: str, decoded: bool, query: str) -> None:
    text, b64 = record.encode_bytes(body)
    data = make_record(
        endpoint=endpoint, body=text, body_base64=b64, body_decoded=decoded, body_size=len(body), query=query
    )
    _checked(data)
