"""A record's own fields (core/redact/record.py): every field not known to hold no one's
data is redacted (``scripted``, ``forwarded_to``, an answer's ``to``, fields added later);
web API and upload records keep their summaries, redacted; answers' JSON bodies are
redacted as payloads; names and places identified by their field (core/redact/payload.py,
sweep.py)."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from sentry_mirror.core import record, shape
from sentry_mirror.core.redact import BodyRedactor, Pseudonyms, Redactor
from tests.factories import (
    make_answer,
    make_api_record,
    make_envelope,
    make_event,
    make_record,
    make_request,
    make_upload,
)

EMAIL = "jane.doe@example.com"


def redacted(data: dict[str, Any]) -> dict[str, Any]:
    return Redactor(BodyRedactor(Pseudonyms(b"k" * 32)), "builtin").record(data)


def dumped(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data)


def test_fields_beyond_the_known_ones_are_redacted_never_copied() -> None:
    data = make_record(make_request(body=make_envelope(None, [({"type": "event"}, make_event())])))
    data["scripted"] = {"rule": f"rule-{EMAIL}", "source": f"from {EMAIL}"}
    data["forwarded_to"] = "https://jane.doe:pw@up.test/1"
    data["a_field_added_later"] = {"who": EMAIL}
    out = redacted(data)
    assert EMAIL.encode() not in dumped(out) and b"jane.doe:pw" not in dumped(out)
    assert out["id"] == data["id"] and out["received_at"] == data["received_at"]
    assert shape.problem(out) is None


def test_an_answers_json_body_is_redacted_as_a_payload_and_its_target_too() -> None:
    request = make_record(make_request(body=make_envelope(None, [({"type": "event"}, make_event())])))
    echo = {"echo": {"user": {"id": "u-48213", "email": EMAIL}}}
    out = redacted(make_answer(request, body=orjson.dumps(echo), to="https://jane.doe:pw@up.test/1"))
    assert [] == [s for s in (b"u-48213", EMAIL.encode(), b"jane.doe:pw") if s in dumped(out)]
    body = orjson.loads(record.decode_bytes(out["body"], out["body_base64"]))
    assert body["echo"]["user"]["id"].startswith("<user:")


def test_a_web_api_record_keeps_its_summary_redacted() -> None:
    data = make_api_record(
        "api_releases", "POST", "/api/0/organizations/acme/releases/", {"version": "1.0", "owner": EMAIL}
    )
    data["summary"] = dict(data["summary"], title="new release 1.0", release="1.0")
    data["api"]["release"] = "1.0"
    out = redacted(data)
    assert "new release 1.0" == out["summary"]["title"] and "1.0" == out["summary"]["release"]
    assert "1.0" == out["api"]["release"] and EMAIL.encode() not in dumped(out)


def test_an_upload_record_keeps_its_summary_and_a_checksum_of_its_new_file() -> None:
    data = make_upload(b"PK\x03\x04 a zip", name="/Users/jane/jane.doe@example.com.dSYM", release="1.0")
    data["summary"]["items"] = [{"type": "source_map", "size": 10, "headers": {"url": "~/app.js.map"}}]
    out = redacted(data)
    body = record.decode_bytes(out["body"], out["body_base64"])
    assert EMAIL.encode() not in dumped(out) and b"/Users/jane" not in dumped(out)
    assert len(body) == data["body_size"] and b"a zip" not in body
    assert hashlib.sha1(body).hexdigest() == out["upload"]["checksum"] == out["upload"]["chunks"][0]
    assert data["summary"]["items"] == out["summary"]["items"] and "1.0" == out["upload"]["release"]


def test_names_phones_and_places_known_by_their_field_are_replaced() -> None:
    event = make_event(
        user={
            "id": "1",
            "geo": {"city": "Lyon", "region": "Rhone", "country_code": "FR"},
            "data": {"mobile": "+33612345678"},
        },
        contexts={
            "feedback": {"name": "Jane Doe", "message": "hi"},
            "person": {"phone": "+33612345678", "ssn": "078-05-1120"},
        },
    )
    report = {"event_id": "c" * 32, "name": "Jane Doe", "email": EMAIL, "comments": "x"}
    body = make_envelope(None, [({"type": "event"}, event), ({"type": "user_report"}, report)])
    out = redacted(make_record(make_request(body=body)))
    data = record.decode_bytes(out["body"], out["body_base64"])
    assert [] == [s for s in (b"Lyon", b"Rhone", b"Jane Doe", b"+33612345678", b"078-05-1120") if s in data]
    assert b'"country_code":"FR"' in data


def test_response_and_mirror_fields_go_through_the_field_rule() -> None:
    """Only ``response.status`` and ``mirror.version`` are kept as they are (review F 11)."""
    data = make_record(make_request(body=make_envelope(None, [({"type": "event"}, make_event())])))
    data["response"]["note"] = f"for {EMAIL}"
    data["mirror"]["host"] = EMAIL
    out = redacted(data)
    assert EMAIL.encode() not in dumped(out)
    assert data["response"]["status"] == out["response"]["status"]
    assert data["mirror"]["version"] == out["mirror"]["version"]
    assert shape.problem(out) is None
