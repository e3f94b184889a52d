"""The writer side of records: :func:`record.dumps` stores any record a request can produce."""

from __future__ import annotations

import json

import orjson
from hypothesis import given
from hypothesis import strategies as st

from sentry_mirror.core import record
from tests.factories import make_record, make_request

JSON = [("Content-Type", "application/json")]


def test_a_lone_surrogate_in_a_store_event_is_stored_as_u_fffd_and_noted_exactly() -> None:
    """``"\\ud800"`` parses (the lenient JSON fallback) into a title UTF-8 cannot hold: the line
    is written, the title holds U+FFFD, and a note holds the exact value, JSON-escaped."""
    body = b'{"message":"bad \\ud800 title"}'
    line = record.dumps(make_record(make_request(path="/api/1/store/", body=body, headers=JSON, query="sentry_key=k")))
    data = orjson.loads(line)
    assert "bad \ufffd title" == data["summary"]["title"]
    assert body == record.decode_bytes(data["body"], data["body_base64"])  # the body is untouched
    [note] = [n for n in data["notes"] if "surrogate" in n]
    assert "summary.title" in note
    assert "bad \ud800 title" == json.loads(note[note.index('"') :])  # lossless


def test_a_surrogate_in_a_dict_key_is_noted_too() -> None:
    entry = make_record(make_request(path="/api/1/store/", body=b'{"message":"x"}', headers=JSON, query="sentry_key=k"))
    entry["summary"]["envelope_header"] = {"\udcff": "\ud800"}
    data = orjson.loads(record.dumps(entry))
    assert {"\ufffd": "\ufffd"} == data["summary"]["envelope_header"]
    assert any("surrogate" in note for note in data["notes"])


def test_a_value_json_cannot_hold_at_all_still_gives_a_minimal_record() -> None:
    """The last resort: whatever is in the record, a line comes out with id, request line,
    the response as sent and the reason."""
    entry = make_record(make_request(path="/api/1/store/", body=b'{"message":"x"}', headers=JSON, query="sentry_key=k"))
    entry["summary"]["title"] = object()  # no JSON form at all
    entry["error"] = object()
    data = orjson.loads(record.dumps(entry))
    assert entry["id"] == data["id"]
    assert entry["response"]["status"] == data["response"]["status"]
    assert "could not be stored" in data["notes"][-1]


_TEXT = st.text(st.characters() | st.characters(categories=["Cs"]))  # lone surrogates too
_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20,
)


@given(title=_TEXT, header=_JSONISH, path=_TEXT)
def test_dumps_never_fails(title: str, header: object, path: str) -> None:
    """Any string (surrogates included), any JSON-ish value, huge integers, NaN: one line, valid JSON."""
    entry = make_record(make_request(path="/api/1/store/", body=b'{"message":"x"}', headers=JSON, query="sentry_key=k"))
    entry["summary"]["title"] = title
    entry["summary"]["envelope_header"] = header
    entry["path"] = path
    line = record.dumps(entry)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert entry["id"] == orjson.loads(line)["id"]
