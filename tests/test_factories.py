"""The factories build what the listener writes and what SDKs send: a record from
``make_record`` is usable and reads back from a snapshot, an envelope from ``make_envelope``
parses, a request from ``make_request`` gets ingest's answer."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import orjson
import pytest

from sentry_mirror.core import envelope, ingest, record, shape
from sentry_mirror.io.decoder import read_records
from sentry_mirror.io.snapshot import SnapshotWriter
from tests.factories import (
    EVENT_ID,
    KEY,
    PROJECT,
    T0,
    make_envelope,
    make_event,
    make_multipart,
    make_record,
    make_request,
    sample_records,
)


def as_read(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as a reader gets it: one JSON line (pairs become arrays)."""
    return orjson.loads(record.dumps(data))  # type: ignore[no-any-return]


def read_back(*records: dict[str, Any]) -> list[record.Record]:
    """``records`` written to a snapshot as the recorder writes them, and read by the readers."""
    out = io.BytesIO()
    writer = SnapshotWriter(out)
    writer.write(list(records))
    writer.close()
    warnings: list[str] = []
    found = list(read_records(io.BytesIO(out.getvalue()), on_warning=warnings.append))
    assert [] == warnings
    return found


# ---------------------------------------------------------------- make_envelope


def test_the_default_envelope_is_one_event_with_its_id() -> None:
    parsed = envelope.parse(make_envelope())
    assert EVENT_ID == parsed.event_id
    assert ("event",) == parsed.item_types
    assert make_event() == parsed.items[0].json()


def test_items_keep_their_payloads_and_get_explicit_lengths() -> None:
    items = [({"type": "attachment", "filename": "a.bin"}, b"\x00\n\xff"), ({"type": "session"}, {"status": "ok"})]
    parsed = envelope.parse(make_envelope({"dsn": "x"}, items))
    assert {"dsn": "x"} == parsed.headers
    assert [
        ({"type": "attachment", "filename": "a.bin", "length": 3}, b"\x00\n\xff"),
        ({"type": "session", "length": 15}, b'{"status":"ok"}'),
    ] == [(item.headers, item.payload) for item in parsed.items]


@pytest.mark.parametrize("trailing_newline", [True, False])
def test_implicit_lengths_and_no_final_newline_parse_the_same(trailing_newline: bool) -> None:
    body = make_envelope(items=[({"type": "event"}, b"{}")], explicit_length=False, trailing_newline=trailing_newline)
    assert body == b'{"event_id":"%s"}\n{"type":"event"}\n{}' % EVENT_ID.encode() + b"\n" * trailing_newline
    assert (({"type": "event"}, b"{}"),) == tuple((i.headers, i.payload) for i in envelope.parse(body).items)


def test_ascii_headers_are_written_as_the_json_module_writes_them() -> None:
    headers = {"sdk": {"name": "é\u202e"}}
    body = make_envelope(headers, [({"type": "event"}, b"{}")], ascii_headers=True)
    assert body.split(b"\n")[:2] == [json.dumps(headers).encode(), b'{"type": "event", "length": 2}']
    assert headers == envelope.parse(body).headers


# ---------------------------------------------------------------- make_request


def test_the_default_request_is_an_accepted_event() -> None:
    outcome = ingest.handle(make_request())
    assert (200, {"id": EVENT_ID}) == (outcome.response.status, orjson.loads(outcome.response.body))
    assert ("envelope", PROJECT, EVENT_ID) == (outcome.endpoint, outcome.project_id, outcome.event_id)
    assert outcome.auth is not None and KEY == outcome.auth.public_key


def test_a_request_gets_the_answer_its_parts_call_for() -> None:
    assert 401 == ingest.handle(make_request(query="")).response.status  # no key
    assert 400 == ingest.handle(make_request(body=b"not an envelope")).response.status
    assert 405 == ingest.handle(make_request(method="PUT")).response.status
    store = make_request(
        path=f"/api/{PROJECT}/store/", body=orjson.dumps(make_event()), headers=[("Content-Type", "application/json")]
    )
    assert ("store", EVENT_ID) == (ingest.handle(store).endpoint, ingest.handle(store).event_id)


def test_a_multipart_body_is_read_by_the_minidump_endpoint() -> None:
    body, content_type = make_multipart(("upload_file_minidump", "crash.dmp", b"MDMP\x93\xa7\x00\x00" + bytes(64)))
    request = make_request(path=f"/api/{PROJECT}/minidump/", body=body, headers=[("Content-Type", content_type)])
    outcome = ingest.handle(request)
    assert ("minidump", 200) == (outcome.endpoint, outcome.response.status)


# ---------------------------------------------------------------- make_record


def test_the_record_of_a_request_is_the_listeners() -> None:
    request = make_request()
    made = make_record(request, remote_addr="127.0.0.1:1", id="1" * 32)
    outcome = ingest.handle(request)
    assert record.build(request, outcome, received_at=T0, remote_addr="127.0.0.1:1", record_id="1" * 32) == made
    assert shape.usable(as_read(made)) and shape.problem(as_read(made)) is None
    [read] = read_back(made)
    assert ("1" * 32, T0, 200, make_envelope()) == (read.id, read.received_at, read.status, read.body)


def test_fields_replace_the_records_and_a_received_at_datetime_is_formatted() -> None:
    later = T0 + timedelta(seconds=1.5)
    made = make_record(make_request(), received_at=later, remote_addr=None)
    assert ("2026-11-23T10:00:01.500000Z", None) == (made["received_at"], made["remote_addr"])
    assert later == read_back(made)[0].received_at


def test_the_config_decides_the_answer() -> None:
    made = make_record(make_request(), config=ingest.Config(keys=frozenset({"f" * 32})))
    assert 403 == made["response"]["status"] and shape.usable(as_read(made))


def test_the_hand_made_record_is_usable_and_reads_back() -> None:
    made = make_record(id="2" * 32, body="hello")
    assert shape.usable(made) and shape.problem(made) is None and made == as_read(made)
    [read] = read_back(made)
    assert ("2" * 32, T0, 404, b"hello") == (read.id, read.received_at, read.status, read.body)


def test_each_record_is_a_new_object() -> None:
    first, second = make_record(), make_record()
    first["summary"]["items"].append("x")
    assert [] == second["summary"]["items"]


@pytest.mark.parametrize("name", ["python", "node", "browser"])
def test_sample_records_are_what_the_listener_wrote(name: str) -> None:
    records = sample_records(name)
    assert len(records) >= 5
    assert [] == [data["id"] for data in records if not shape.usable(data)]
    assert {"envelope"} <= {data["endpoint"] for data in records}


def test_make_upload_holds_the_bundle_and_its_manifest() -> None:
    """The upload record's body is the zip byte for byte, and its manifest names each file by url."""
    import io
    import json
    import zipfile

    from sentry_mirror.core.record import Record
    from tests.factories import make_artifact_bundle, make_upload

    bundle = make_artifact_bundle({"~/app.min.js": ("minified_source", b"f()", {"debug-id": "d"})}, release="1.0")
    upload = make_upload(bundle, release="1.0")
    assert bundle == Record(upload).body
    assert ("upload", "1.0", "artifact_bundle") == (
        upload["endpoint"],
        upload["upload"]["release"],
        upload["upload"]["kind"],
    )
    with zipfile.ZipFile(io.BytesIO(Record(upload).body)) as archive:
        files = json.loads(archive.read("manifest.json"))["files"]
        assert [("~/app.min.js", b"f()")] == [(f["url"], archive.read(name)) for name, f in files.items()]
