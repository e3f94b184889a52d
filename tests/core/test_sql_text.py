"""core/sql: the SQL text is pure; quoting holds whatever a file name holds; the raw
columns cover every field a record or an answer record has; Python's items agree with
core.envelope and the event readers."""

from __future__ import annotations

import base64
import json
import re
from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentry_mirror.core import answer, sql
from sentry_mirror.core.envelope import TYPE_ALIASES
from sentry_mirror.core.sql import macros, pyitems, quote, source
from tests.factories import (
    make_answer,
    make_envelope,
    make_event,
    make_record,
    make_request,
)

DOCS = Path(__file__).resolve().parents[2] / "docs"


@given(st.text().filter(lambda t: "\x00" not in t))
def test_a_literal_reads_back_as_the_text(text: str) -> None:
    quoted = quote.literal(text)
    assert quoted.startswith("'") and quoted.endswith("'")
    inner = quoted[1:-1]
    assert inner.replace("''", "'") == text
    assert "'" not in inner.replace("''", "")


def test_a_nul_is_refused_not_cut() -> None:
    with pytest.raises(ValueError, match="NUL"):
        quote.literal("a\x00b")
    with pytest.raises(ValueError, match="NUL"):
        quote.identifier("a\x00b")


def test_identifiers_and_lists_quote_their_quotes() -> None:
    assert '"a""b"' == quote.identifier('a"b')
    assert "['it''s', 'x']" == quote.literal_list(["it's", "x"])


def test_glob_characters_in_file_names_are_escaped() -> None:
    assert "snap [[]1][*][?].jsonl.zst" == quote.glob_escaped("snap [1]*?.jsonl.zst")
    assert "plain ü.jsonl.zst" == quote.glob_escaped("plain ü.jsonl.zst")


def test_the_raw_view_names_copies_after_their_originals() -> None:
    statement = source.raw_view([("/tmp/x/1.jsonl.zst", "/data/it's.jsonl.zst"), ("/a.jsonl.zst", "/a.jsonl.zst")])
    assert "WHEN '/tmp/x/1.jsonl.zst' THEN '/data/it''s.jsonl.zst'" in statement
    assert "read_json(['/tmp/x/1.jsonl.zst', '/a.jsonl.zst']" in statement
    assert "WHERE false" in source.raw_view([])


def test_the_raw_columns_cover_every_record_and_answer_field() -> None:
    names = {name for name, _ in source.COLUMNS}
    request = make_record(make_request())
    assert set(request) <= names
    assert set(make_answer()) <= names
    assert {"body_encoded", "body_omitted", "api", "upload", "redacted", "scripted", "forwarded_to"} <= names
    assert answer.KIND == "answer"


def test_type_aliases_are_counted_as_core_envelope_counts_them() -> None:
    text = next(body for name, _, body in macros.MACROS if name == "_sm_type")
    for sent, counted in TYPE_ALIASES.items():
        assert f"WHEN '{sent}' THEN '{counted}'" in text


def test_every_view_is_defined_after_the_ones_it_reads() -> None:
    defined: set[str] = {source.RAW, sql.PY_ITEMS}
    for name, select in sql.VIEWS:
        for other in sql.VIEW_NAMES:
            if other != name and f"FROM {other}" in select:
                assert other in defined, f"{name} reads {other} before it is defined"
        defined.add(name)
    documented = re.findall(r"^### `(\w+)`$", (DOCS / "sql.md").read_text(), re.MULTILINE)
    created = [text.split()[4] for text in sql.view_statements() if text.startswith("CREATE OR REPLACE VIEW ")]
    assert documented == created


def _source(record: dict[str, object]) -> tuple[object, ...]:
    """A source row as DuckDB gives it (JSON columns as text)."""
    values = {
        **record,
        "received_at": datetime(2026, 11, 23),
        "day": date(2026, 11, 23),
        "project": "42",
        "sdk": None,
        "event_id": None,
        "headers": json.dumps(record["headers"]),
        "summary": json.dumps(record["summary"]),
        "body_encoded": False,
    }
    return tuple(values[name] for name in pyitems.SOURCE_COLUMNS)


def test_a_base64_envelope_is_split_by_core_envelope() -> None:
    binary = b"\x00\xff\n\r\n"
    body = make_envelope(items=[({"type": "event"}, make_event()), ({"type": "attachment"}, binary)])
    record = make_record(make_request(body=body))
    assert record["body_base64"]
    rows = pyitems.rows(_source(record))
    event_size = len(body.split(b"\n")[2])
    assert [(0, "event", event_size), (1, "attachment", 5)] == [(r[7], r[8], r[10]) for r in rows]
    assert json.loads(rows[0][11])["exception"]["values"][0]["type"] == "ZeroDivisionError"
    assert rows[1][11] is None  # not JSON


def test_a_store_body_is_its_event() -> None:
    event = make_event()
    body = base64.b64encode(json.dumps(event).encode())
    record = make_record(make_request(path="/api/42/store/", body=body))
    rows = pyitems.rows(_source(record))
    assert [("event", None, None)] == [(r[8], r[9], r[10]) for r in rows]
    assert event == json.loads(rows[0][11])


def test_an_envelope_that_does_not_parse_has_no_items() -> None:
    record = make_record(make_request(body=b'{}\n{"type":"event","length":99}\n{}'))
    assert [] == pyitems.rows(_source(record))


def test_a_lone_surrogate_becomes_a_replacement_character() -> None:
    record = make_record(make_request(body=b'{}\n{"type":"event"}\n{"message":"\\ud800"}\n'))
    rows = pyitems.rows(_source(record))
    assert "\ufffd" == json.loads(rows[0][11])["message"]  # DuckDB's JSON holds valid UTF-8 only


def test_a_body_that_does_not_decode_has_no_items() -> None:
    record = {**make_record(make_request()), "body": "not base64!", "body_base64": True}
    assert [] == pyitems.rows(_source(record))


def test_level_aliases_and_event_ids_are_read_as_core_reads_them() -> None:
    from sentry_mirror.core.envelope import UUID_PATTERN
    from sentry_mirror.core.grouping.groups import LEVEL_ALIASES

    for sent, stored in LEVEL_ALIASES.items():
        assert f"WHEN '{sent}' THEN '{stored}'" in sql.views.EVENTS
    uuid = next(body for name, _, body in macros.MACROS if name == "_sm_uuid")
    assert f"'{UUID_PATTERN}'" in uuid
