"""Rewriting recorded requests for a replay target: every rewrite, as tables.

The oracle for "the target accepts it" is the mirror's own Relay-faithful core: a rewritten
request handed to ``ingest.handle`` with only the target's key allowed must be accepted,
for the target's project and key, in the auth form expected.
"""

from __future__ import annotations

import base64
import copy
import itertools
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sentry_mirror.core import encoding, envelope, ingest, ratelimits, record
from sentry_mirror.core.auth import parse_dsn
from sentry_mirror.core.replay import timeshift
from sentry_mirror.core.replay.envelope_rewrite import rewrite_envelope
from sentry_mirror.core.replay.fresh_ids import IdMap
from sentry_mirror.core.replay.rewrite import (
    ENCODINGS,
    NotReplayable,
    Options,
    Target,
    encode,
    parse_project_map,
    rewrite_request,
)
from sentry_mirror.core.replay.timeshift import format_like, shift_payload, shift_value
from sentry_mirror.errors import MirrorError
from tests.factories import EVENT_ID, KEY, OTHER_KEY, make_envelope, make_event, make_record, make_request

NEW_KEY = "fedcba9876543210fedcba9876543210"
TARGET = Target(parse_dsn(f"http://{NEW_KEY}@127.0.0.1:8000/prefix/7"))
T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
SENT_AT = "2026-11-23T10:00:00.500000Z"


def counter_ids() -> IdMap:
    """New ids 000…001, 000…002, … in order of first use."""
    numbers = itertools.count(1)
    return IdMap(lambda: f"{next(numbers):032x}")


def recorded(
    path: str = "/api/42/envelope/",
    body: bytes | None = None,
    *,
    query: str = "",
    headers: tuple[tuple[str, str], ...] = (
        ("X-Sentry-Auth", f"Sentry sentry_key={KEY}, sentry_version=7, sentry_client=sentry.python/2.75.0"),
    ),
    method: str = "POST",
    content_encoding: str | None = None,
) -> dict[str, Any]:
    """The snapshot record the mirror writes for this request (auth in its header, the body
    sent encoded with ``content_encoding``)."""
    wire = encode(content_encoding, make_envelope() if body is None else body)
    if content_encoding:
        headers = (*headers, ("Content-Encoding", content_encoding))
    return make_record(
        make_request(path=path, body=wire, headers=headers, query=query, method=method), remote_addr="127.0.0.1:1"
    )


def accepted_by_target(sent: Any, key: str = NEW_KEY, project: str = "7") -> ingest.Outcome:
    """Hand the rewritten request to the Relay-faithful core, allowing only the target key."""
    parts = urlsplit(sent.url)
    assert parts.netloc == "127.0.0.1:8000"
    assert parts.path.startswith("/prefix/")
    request = ingest.Request(sent.method, parts.path.removeprefix("/prefix"), parts.query, sent.headers, sent.body)
    outcome = ingest.handle(request, ingest.Config(keys=frozenset({key})))
    assert outcome.response.status < 300, (outcome.response.status, outcome.error)
    assert outcome.project_id == project
    assert outcome.auth is not None and outcome.auth.public_key == key
    return outcome


# ------------------------------------------------------------------ URL and auth

BASIC = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
AUTH_CASES = [
    # id, path, query, headers, option, expected auth form at the target
    (
        "x-sentry-auth",
        "/api/42/envelope/",
        "",
        (("X-Sentry-Auth", f"Sentry sentry_key={KEY}, sentry_version=7"),),
        "original",
        "x-sentry-auth",
    ),
    (
        "authorization",
        "/api/42/envelope/",
        "",
        (("Authorization", f"Sentry sentry_key={KEY},sentry_version=7"),),
        "original",
        "authorization",
    ),
    ("basic", "/api/42/envelope/", "", (("Authorization", BASIC),), "original", "basic"),
    (
        "query",
        "/api/42/envelope/",
        f"sentry_key={KEY}&sentry_version=7&sentry_client=sentry.javascript.browser%2F11.12.0",
        (),
        "original",
        "query",
    ),
    (
        "header-to-query",
        "/api/42/envelope/",
        "",
        (("X-Sentry-Auth", f"Sentry sentry_key={KEY}, sentry_version=7"),),
        "query",
        "query",
    ),
    ("query-to-header", "/api/42/envelope/", f"sentry_key={KEY}&sentry_version=7", (), "header", "x-sentry-auth"),
    ("basic-to-header", "/api/42/envelope/", "", (("Authorization", BASIC),), "header", "x-sentry-auth"),
    (
        "header-to-header",
        "/api/42/envelope/",
        "",
        (("X-Sentry-Auth", f"Sentry sentry_key={KEY}, sentry_version=7"),),
        "header",
        "x-sentry-auth",
    ),
    ("store", "/api/42/store/", f"sentry_key={KEY}&sentry_version=7", (), "original", "query"),
]


@pytest.mark.parametrize(
    ("path", "query", "headers", "auth", "form"), [c[1:] for c in AUTH_CASES], ids=[c[0] for c in AUTH_CASES]
)
def test_auth_is_rewritten_to_the_target_key_in_the_wanted_form(
    path: str, query: str, headers: Any, auth: str, form: str
) -> None:
    body = orjson.dumps(make_event()) if "store" in path else None
    data = recorded(path, body, query=query, headers=headers)
    assert data["response"]["status"] == 200
    sent = rewrite_request(data, TARGET, Options(auth=auth))
    outcome = accepted_by_target(sent)
    assert outcome.auth is not None and outcome.auth.form == form
    assert KEY not in sent.url and all(KEY not in v for _, v in sent.headers)
    assert "key" in sent.changes


def test_query_keeps_its_other_parameters_in_order() -> None:
    data = recorded(query=f"sentry_version=7&sentry_key={KEY}&sentry_client=js%2F1.0", headers=())
    sent = rewrite_request(data, TARGET)
    assert [("sentry_version", "7"), ("sentry_key", NEW_KEY), ("sentry_client", "js/1.0")] == parse_qsl(
        urlsplit(sent.url).query
    )


def test_x_sentry_auth_keeps_every_other_field() -> None:
    value = f"Sentry sentry_key={KEY}, sentry_version=7, sentry_timestamp=1777629600, sentry_client=sentry-cli/x86_64"
    sent = rewrite_request(recorded(headers=(("X-Sentry-Auth", value),)), TARGET)
    assert ("X-Sentry-Auth", value.replace(KEY, NEW_KEY)) in sent.headers


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"/api/42/unreal/{KEY}/", f"/prefix/api/7/unreal/{NEW_KEY}/"),
        (f"/api/42/cron/nightly/{KEY}/", f"/prefix/api/7/cron/nightly/{NEW_KEY}/"),
    ],
    ids=["unreal", "cron"],
)
def test_key_in_the_path_is_replaced_in_the_path(path: str, expected: str) -> None:
    method = "GET" if "cron" in path else "POST"
    data = recorded(
        path,
        b"" if method == "GET" else b"\x00crash",
        headers=(),
        method=method,
        query="status=ok" if method == "GET" else "",
    )
    sent = rewrite_request(data, TARGET, Options(auth="header"))  # a key in the path stays there
    assert expected == urlsplit(sent.url).path
    assert not any(name.lower() == "x-sentry-auth" for name, _ in sent.headers)


def test_tunnel_goes_to_the_envelope_endpoint_with_the_dsn_rewritten() -> None:
    body = make_envelope(headers={"event_id": EVENT_ID, "dsn": f"https://{KEY}@o1.ingest.sentry.io/42"})
    data = recorded("/tunnel", body, headers=())
    assert data["endpoint"] == "tunnel" and data["auth"]["form"] == "envelope-dsn"
    sent = rewrite_request(data, TARGET)
    assert "http://127.0.0.1:8000/prefix/api/7/envelope/" == sent.url
    outcome = accepted_by_target(sent)
    assert outcome.auth is not None and outcome.auth.form == "envelope-dsn"
    assert f"http://{NEW_KEY}@127.0.0.1:8000/prefix/7" == envelope.parse(sent.decoded).headers["dsn"]


def test_envelope_dsn_and_trace_public_key_name_the_target() -> None:
    body = make_envelope(
        headers={
            "event_id": EVENT_ID,
            "dsn": f"https://{KEY}@o1.ingest.sentry.io/42",
            "trace": {"trace_id": "ab" * 16, "public_key": KEY},
        }
    )
    sent = rewrite_request(recorded(body=body), TARGET)
    header = envelope.parse(sent.decoded).headers
    assert f"http://{NEW_KEY}@127.0.0.1:8000/prefix/7" == header["dsn"]
    assert {"trace_id": "ab" * 16, "public_key": NEW_KEY} == header["trace"]
    assert ("dsn", "trace.public_key") == tuple(c for c in sent.changes if c in ("dsn", "trace.public_key"))
    accepted_by_target(sent)


def test_project_map_sends_each_project_to_its_own_target_project_and_key() -> None:
    target = Target(TARGET.dsn, parse_project_map(["42=3", f"43=4:{OTHER_KEY}"], NEW_KEY))
    accepted_by_target(rewrite_request(recorded("/api/42/envelope/"), target), NEW_KEY, "3")
    accepted_by_target(rewrite_request(recorded("/api/43/envelope/"), target), OTHER_KEY, "4")
    accepted_by_target(rewrite_request(recorded("/api/44/envelope/"), target), NEW_KEY, "7")


@pytest.mark.parametrize("entry", ["42", "=1", "42=", ""])
def test_project_map_refuses_malformed_entries(entry: str) -> None:
    with pytest.raises(MirrorError, match="RECORDED=TARGET"):
        parse_project_map([entry], NEW_KEY)


def test_store_without_project_keeps_its_path() -> None:
    data = recorded("/api/store/", orjson.dumps(make_event()), headers=(), query=f"sentry_key={KEY}&sentry_version=7")
    sent = rewrite_request(data, TARGET)
    assert "/prefix/api/store/" == urlsplit(sent.url).path


def test_connection_headers_are_not_copied_and_the_rest_are_in_order() -> None:
    headers = (
        ("Host", "old.example"),
        ("User-Agent", "sentry.python/2.75.0"),
        ("Content-Length", "999"),
        ("Transfer-Encoding", "chunked"),
        ("Connection", "keep-alive"),
        ("X-Sentry-Auth", f"Sentry sentry_key={KEY}"),
        ("Content-Type", "application/x-sentry-envelope"),
    )
    sent = rewrite_request(recorded(headers=headers, content_encoding="gzip"), TARGET)
    assert [name for name, _ in sent.headers] == ["User-Agent", "X-Sentry-Auth", "Content-Type", "Content-Encoding"]


# ------------------------------------------------------------------ bodies and encodings


@pytest.mark.parametrize("original", [None, "gzip", "deflate", "br", "zstd"])
@pytest.mark.parametrize("wanted", ENCODINGS)
def test_body_encoding_original_or_chosen(original: str | None, wanted: str) -> None:
    data = recorded(content_encoding=original)
    sent = rewrite_request(data, TARGET, Options(encoding=wanted))
    expected = original if wanted == "original" else (None if wanted == "identity" else wanted)
    assert expected == sent.encoding
    assert expected == {k.lower(): v for k, v in sent.headers}.get("content-encoding")
    assert make_envelope() == encoding.decode(sent.encoding, sent.body) == sent.decoded
    accepted_by_target(sent)


def test_no_rewrite_needed_keeps_the_body_byte_for_byte() -> None:
    body = make_envelope(
        items=[({"type": "event"}, b'{"event_id": "%s",  "timestamp": 1}' % EVENT_ID.encode())], trailing_newline=False
    )
    sent = rewrite_request(recorded(body=body), TARGET)
    assert body == sent.decoded


def test_a_body_that_did_not_decode_is_sent_as_recorded() -> None:
    headers = (("X-Sentry-Auth", f"Sentry sentry_key={KEY}"), ("Content-Encoding", "gzip"))
    request = ingest.Request("POST", "/api/42/envelope/", "", headers, b"not gzip at all")
    data = record.build(request, ingest.handle(request), received_at=T0, remote_addr=None)
    assert data["body_decoded"] is False
    sent = rewrite_request(data, TARGET, Options(encoding="zstd", fresh_ids=True, shift=60.0))
    assert b"not gzip at all" == sent.body
    assert ("Content-Encoding", "gzip") in sent.headers


def test_a_truncated_body_is_not_replayable() -> None:
    data = {**recorded(), "body_truncated": True}
    with pytest.raises(NotReplayable):
        rewrite_request(data, TARGET)


def test_a_body_that_is_not_an_envelope_is_sent_as_recorded() -> None:
    data = recorded(body=b"not an envelope")
    sent = rewrite_request(data, TARGET, Options(fresh_ids=True))
    assert b"not an envelope" == sent.decoded
    assert "body sent as recorded (not an envelope)" in sent.changes


# ------------------------------------------------------------------ envelope framing


ATTACHMENT = b"\x00\x01binary\xff\n\r\n"


def framed(trailing_newline: bool = True, blank_line: bool = False) -> bytes:
    event = orjson.dumps(make_event(timestamp=1777629600.25))
    parts = [
        orjson.dumps({"event_id": EVENT_ID, "sent_at": SENT_AT}),
        b"\n",
        b'{"type":"event","length":%d}\n' % len(event),
        event,
        b"\n\n" if blank_line else b"\n",
        b'{"type": "attachment", "length": %d, "filename": "state.bin"}\n' % len(ATTACHMENT),
        ATTACHMENT,
        b"\n",
        b'{"type":"session"}\n',
        b'{"sid":"64623cdc-5cb4-4588-8775-42bfc416a961","started":"2026-11-23T10:00:00.100Z","timestamp":"2026-11-23T10:00:00.400000+00:00"}',
        b"\n" if trailing_newline else b"",
    ]
    return b"".join(parts)


@pytest.mark.parametrize("trailing_newline", [True, False])
@pytest.mark.parametrize("blank_line", [False, True])
def test_rewritten_envelope_keeps_framing_and_untouched_items(trailing_newline: bool, blank_line: bool) -> None:
    body = framed(trailing_newline, blank_line)
    result = rewrite_envelope(body, dsn=None, public_key=None, ids=counter_ids(), shift=3600.0)
    before, after = envelope.parse(body), envelope.parse(result.body)
    assert before.item_types == after.item_types == ("event", "attachment", "session")
    # the attachment: same header bytes, same payload bytes
    assert (
        b'{"type": "attachment", "length": %d, "filename": "state.bin"}\n' % len(ATTACHMENT) + ATTACHMENT in result.body
    )
    assert after.items[1].payload == ATTACHMENT
    # the event: new payload, its length updated
    assert after.items[0].headers["length"] == len(after.items[0].payload)
    assert "length" not in after.items[2].headers  # an implicit length stays implicit
    assert result.body.endswith(b"\n") == trailing_newline
    assert (b'\n\n{"type": "attachment"' in result.body) == blank_line
    assert ("event_id", "sent_at", "payload ids", "payload timestamps") == result.changes


def test_no_options_no_change() -> None:
    body = framed()
    result = rewrite_envelope(body, dsn="http://k@h/1", public_key="k")
    assert body == result.body and () == result.changes


# ------------------------------------------------------------------ fresh ids


def test_fresh_ids_are_consistent_in_header_payloads_and_across_envelopes() -> None:
    ids = counter_ids()
    dashed = f"{EVENT_ID[:8]}-{EVENT_ID[8:12]}-{EVENT_ID[12:16]}-{EVENT_ID[16:20]}-{EVENT_ID[20:]}"
    first = rewrite_envelope(make_envelope(headers={"event_id": dashed}), dsn=None, public_key=None, ids=ids)
    later = make_envelope(
        headers={"event_id": EVENT_ID},
        items=[
            ({"type": "attachment"}, b"data"),
            ({"type": "user_report"}, orjson.dumps({"event_id": EVENT_ID, "name": "a", "comments": "b"})),
            (
                {"type": "feedback"},
                orjson.dumps(
                    {
                        "event_id": "ab" * 16,
                        "contexts": {"feedback": {"associated_event_id": EVENT_ID, "message": "hi"}},
                    }
                ),
            ),
        ],
    )
    second = rewrite_envelope(later, dsn=None, public_key=None, ids=ids)
    new = f"{1:032x}"
    assert (
        "00000000-0000-0000-0000-000000000001" == envelope.parse(first.body).headers["event_id"]
    )  # dashed stays dashed
    assert new == envelope.parse(first.body).items[0].json()["event_id"] == first.event_id
    parsed = envelope.parse(second.body)
    assert new == parsed.headers["event_id"] == parsed.items[1].json()["event_id"]
    assert new == parsed.items[2].json()["contexts"]["feedback"]["associated_event_id"]
    assert f"{2:032x}" == parsed.items[2].json()["event_id"]
    assert b"data" == parsed.items[0].payload
    assert {EVENT_ID: new, "ab" * 16: f"{2:032x}"} == ids.mapping()


@pytest.mark.parametrize(
    ("item_type", "payload", "path"),
    [
        ("check_in", {"check_in_id": "cd" * 16, "monitor_slug": "x", "status": "ok"}, ("check_in_id",)),
        ("session", {"sid": "64623cdc-5cb4-4588-8775-42bfc416a961", "status": "ok"}, ("sid",)),
        ("replay_event", {"event_id": "cd" * 16, "replay_id": "cd" * 16}, ("replay_id",)),
        ("profile", {"event_id": "ef" * 16, "transaction": {"id": EVENT_ID}}, ("transaction", "id")),
        ("transaction", {"event_id": EVENT_ID, "type": "transaction"}, ("event_id",)),
        (
            "event",
            {"event_id": EVENT_ID, "contexts": {"replay": {"replay_id": "cd" * 16}}},
            ("contexts", "replay", "replay_id"),
        ),
    ],
)
def test_fresh_ids_reach_every_id_that_names_an_event(
    item_type: str, payload: dict[str, Any], path: tuple[str, ...]
) -> None:
    body = make_envelope(headers={}, items=[({"type": item_type}, orjson.dumps(payload))])
    result = rewrite_envelope(body, dsn=None, public_key=None, ids=counter_ids())
    value: Any = envelope.parse(result.body).items[0].json()
    original: Any = payload
    for key in path:
        value, original = value[key], original[key]
    assert value != original and len(value.replace("-", "")) == 32


def test_the_target_answers_with_the_fresh_event_id() -> None:
    sent = rewrite_request(recorded(), TARGET, Options(fresh_ids=True), ids=counter_ids())
    outcome = accepted_by_target(sent)
    assert {"id": f"{1:032x}"} == orjson.loads(outcome.response.body)
    assert f"{1:032x}" == sent.event_id


# ------------------------------------------------------------------ timestamps


@pytest.mark.parametrize(
    ("value", "seconds", "expected"),
    [
        (1777629600.25, 3600.0, 1777633200.25),
        (1777629600, 90.4, 1777629690),
        ("2026-11-23T10:00:00.123456Z", 3600.5, "2026-11-23T11:00:00.623456Z"),
        ("2026-11-23T10:00:00.123Z", 1.0, "2026-11-23T10:00:01.123Z"),
        ("2026-11-23T10:00:00Z", 86400.0, "2026-11-24T10:00:00Z"),
        ("2026-11-23T10:00:00.5+00:00", -0.25, "2026-11-23T10:00:00.2+00:00"),
        ("2026-11-23T10:00:00+02:00", 60.0, "2026-11-23T10:01:00+02:00"),
        ("2026-11-23 10:00:00.000001", 1.0, "2026-11-23 10:00:01.000001"),
        ("2026-11-23T10:00Z", 120.0, "2026-11-23T10:02Z"),
        # out of the calendar once moved: left as they are (these raised OverflowError)
        ("9999-12-31T23:59:59.000000Z", 86400.0, "9999-12-31T23:59:59.000000Z"),
        ("0001-01-01T00:00:00Z", -1.0, "0001-01-01T00:00:00Z"),
        ("2026-11-23T10:00:00.123456Z", 1e20, "2026-11-23T10:00:00.123456Z"),
        ("not a time", 60.0, "not a time"),
        (None, 60.0, None),
        (True, 60.0, True),
    ],
)
def test_shift_value_keeps_each_style(value: Any, seconds: float, expected: Any) -> None:
    assert expected == shift_value(value, seconds)
    assert type(expected) is type(shift_value(value, seconds))


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    separator=st.sampled_from("T "),
    seconds=st.floats(min_value=-1e9, max_value=1e9, allow_nan=False),
)
@example(moment=datetime(2026, 11, 23, 10, 0, 0, 999999), separator="T", seconds=0.0000005)
def test_the_sdk_style_shortcut_shifts_as_the_general_path(moment: datetime, separator: str, seconds: float) -> None:
    text = moment.isoformat(separator, "microseconds") + "Z"  # as sentry-python writes timestamps
    assert timeshift._shift_styled(text, seconds) == shift_value(text, seconds)


@pytest.mark.parametrize(
    "text",
    # the shortcut's shape, but not RFC 3339: left alone by both paths (fromisoformat alone
    # would read a zone in the fraction)
    [
        "2026-11-23T10:00:00.123+01Z",
        "2026-11-23T10:00:00.1+0100Z",
        "2026-11-23T10:00:00.12345ZZ",
        "2026-11-23T10:00:00.+23:56Z",
    ],
)
def test_the_sdk_style_shortcut_leaves_what_is_not_rfc3339(text: str) -> None:
    assert text == timeshift._shift_styled(text, 1.0) == shift_value(text, 1.0)


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        (SENT_AT, "2026-11-23T12:00:00.000000Z"),
        ("2026-11-23T10:00:00+00:00", "2026-11-23T12:00:00+00:00"),
        (1.5, 1795435200.0),
        (7, 1795435200),
    ],
)
def test_format_like(example: Any, expected: Any) -> None:
    assert expected == format_like(datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC), example)


HOUR = 3600.0
SHIFT_CASES = [
    (
        "event",
        {
            "timestamp": 100.0,
            "breadcrumbs": {"values": [{"timestamp": 90.0, "message": "a"}]},
            "extra": {"timestamp": 5},
        },
        {
            "timestamp": 3700.0,
            "breadcrumbs": {"values": [{"timestamp": 3690.0, "message": "a"}]},
            "extra": {"timestamp": 5},
        },
    ),
    (
        "event",
        {"timestamp": 100.0, "breadcrumbs": [{"timestamp": 90.0}]},
        {"timestamp": 3700.0, "breadcrumbs": [{"timestamp": 3690.0}]},
    ),
    (
        "transaction",
        {"start_timestamp": 99.0, "timestamp": 100.0, "spans": [{"start_timestamp": 99.5, "timestamp": 99.75}]},
        {"start_timestamp": 3699.0, "timestamp": 3700.0, "spans": [{"start_timestamp": 3699.5, "timestamp": 3699.75}]},
    ),
    (
        "session",
        {"started": "1970-01-01T00:00:00Z", "timestamp": "1970-01-01T00:01:00.5Z", "sid": "x"},
        {"started": "1970-01-01T01:00:00Z", "timestamp": "1970-01-01T01:01:00.5Z", "sid": "x"},
    ),
    (
        "sessions",
        {"aggregates": [{"started": "1970-01-01T00:00:00Z", "exited": 3}]},
        {"aggregates": [{"started": "1970-01-01T01:00:00Z", "exited": 3}]},
    ),
    (
        "log",
        {"items": [{"timestamp": 1.5, "body": "x"}, {"timestamp": 2.5}]},
        {"items": [{"timestamp": 3601.5, "body": "x"}, {"timestamp": 3602.5}]},
    ),
    (
        "span",
        {"items": [{"start_timestamp": 1.0, "end_timestamp": 2.0}]},
        {"items": [{"start_timestamp": 3601.0, "end_timestamp": 3602.0}]},
    ),
    ("client_report", {"timestamp": 10, "discarded_events": []}, {"timestamp": 3610, "discarded_events": []}),
    (
        "replay_event",
        {"timestamp": 10.0, "replay_start_timestamp": 5.0},
        {"timestamp": 3610.0, "replay_start_timestamp": 3605.0},
    ),
    ("profile", {"timestamp": "1970-01-01T00:00:10Z"}, {"timestamp": "1970-01-01T01:00:10Z"}),
    ("check_in", {"status": "ok", "duration": 1.5}, {"status": "ok", "duration": 1.5}),
    ("attachment", {"timestamp": 1.0}, {"timestamp": 1.0}),
]


@pytest.mark.parametrize(
    ("item_type", "payload", "expected"), SHIFT_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(SHIFT_CASES)]
)
def test_shift_payload_moves_sdk_timestamps_only(
    item_type: str, payload: dict[str, Any], expected: dict[str, Any]
) -> None:
    moved = copy.deepcopy(payload)
    changed = shift_payload(item_type, moved, HOUR)
    assert expected == moved
    assert changed == (expected != payload)


def test_shift_keeps_spacing_and_sets_sent_at_to_the_send_time() -> None:
    body = framed()
    send_time = datetime(2026, 11, 23, 12, 0, 1, 250000, tzinfo=UTC)
    result = rewrite_envelope(body, dsn=None, public_key=None, shift=HOUR, sent_at=send_time)
    after = envelope.parse(result.body)
    assert "2026-11-23T12:00:01.250000Z" == after.headers["sent_at"]
    assert 1777629600.25 + HOUR == after.items[0].json()["timestamp"]
    session = after.items[2].json()
    assert ("2026-11-23T11:00:00.100Z", "2026-11-23T11:00:00.400000+00:00") == (
        session["started"],
        session["timestamp"],
    )


def test_store_body_gets_fresh_ids_and_shifted_timestamps() -> None:
    data = recorded(
        "/api/42/store/", orjson.dumps(make_event()), headers=(), query=f"sentry_key={KEY}&sentry_version=7"
    )
    sent = rewrite_request(data, TARGET, Options(fresh_ids=True, shift=10.0), ids=counter_ids())
    event = orjson.loads(sent.decoded)
    assert (f"{1:032x}", 1777629610.0) == (event["event_id"], event["timestamp"])
    assert {"id": f"{1:032x}"} == orjson.loads(accepted_by_target(sent).response.body)


def test_categories_for_rate_limits() -> None:
    body = make_envelope(
        items=[
            ({"type": "event"}, b"{}"),
            ({"type": "attachment"}, b"x"),
            ({"type": "client_report"}, b"{}"),
            ({"type": "future"}, b"{}"),
        ]
    )
    assert ("error", "attachment", "internal", "default") == rewrite_request(recorded(body=body), TARGET).categories


@pytest.mark.parametrize(
    ("limited", "kept", "dropped"),
    [
        (frozenset({"error"}), ("attachment", "session"), ("event",)),
        (frozenset({"attachment", "session"}), ("event",), ("attachment", "session")),
        (frozenset({"transaction"}), ("event", "attachment", "session"), ()),
    ],
)
def test_rate_limited_items_are_left_out_as_an_sdk_leaves_them(
    limited: frozenset[str], kept: tuple[str, ...], dropped: tuple[str, ...]
) -> None:
    body = framed()
    data = recorded(body=body)
    sent = rewrite_request(data, TARGET, hold_back=limited)
    parsed = envelope.parse(sent.decoded)
    assert kept == parsed.item_types == sent.item_types
    before = {item.type: item.payload for item in envelope.parse(body).items}
    assert [before[t] for t in kept] == [item.payload for item in parsed.items]  # the rest byte for byte
    assert (("held back " + "+".join(dropped),) if dropped else ()) == tuple(
        c for c in sent.changes if c.startswith("held back")
    )


@pytest.mark.parametrize(
    "limited", [frozenset(c) for n in range(4) for c in itertools.combinations(("error", "attachment", "session"), n)]
)
def test_holding_back_items_of_an_envelope_with_blank_lines_leaves_a_valid_envelope(limited: frozenset[str]) -> None:
    """Blank lines between items are valid (Relay skips them); whatever is held back, the
    rest must still be an envelope a server takes: no blank line at its end."""
    items = framed(blank_line=True).split(b"\n", 1)[1]
    body = framed().split(b"\n", 1)[0] + b"\n\n" + items.replace(b'\n{"type":"session"}', b'\n\r\n\n{"type":"session"}')
    assert 3 == len(envelope.parse(body).items) and b"\n\n" in body and b"\n\r\n\n" in body
    sent = rewrite_request(recorded(body=body), TARGET, hold_back=limited)
    parsed = envelope.parse(sent.decoded)  # strict, as the mirror (and Relay): blank lines at the end are refused
    before = {item.type: item.payload for item in envelope.parse(body).items}
    kept = tuple(t for t in ("event", "attachment", "session") if ratelimits.category_of(t) not in limited)
    assert kept == parsed.item_types
    assert [before[t] for t in kept] == [item.payload for item in parsed.items]


@pytest.mark.parametrize(
    "path", ["http://elsewhere.example/api/1/envelope/", "//elsewhere.example/x", "@elsewhere.example/x"]
)
def test_a_recorded_path_never_leads_away_from_the_target(path: str) -> None:
    data = {**recorded(), "path": path, "endpoint": "unknown"}
    try:
        sent = rewrite_request(data, TARGET)
    except NotReplayable:
        return
    assert "127.0.0.1:8000" == urlsplit(sent.url).netloc


def test_the_recorded_secret_is_not_sent_to_the_target() -> None:
    """A deprecated sentry_secret belongs to the recorded project: dropped from header and query."""
    header = f"Sentry sentry_key={KEY}, sentry_secret=OLDSECRET, sentry_version=7"
    sent = rewrite_request(recorded(headers=(("X-Sentry-Auth", header),)), TARGET)
    assert ("X-Sentry-Auth", f"Sentry sentry_key={NEW_KEY}, sentry_version=7") in sent.headers
    sent = rewrite_request(
        recorded(query=f"sentry_key={KEY}&sentry_secret=OLDSECRET&sentry_version=7", headers=()), TARGET
    )
    assert [("sentry_key", NEW_KEY), ("sentry_version", "7")] == parse_qsl(urlsplit(sent.url).query)
    assert "OLDSECRET" not in repr(sent.headers)


def test_a_payload_too_deep_to_write_back_is_sent_as_recorded() -> None:
    """orjson reads 1024 levels but writes 254: such a payload keeps its bytes (and is noted)."""
    deep = b'{"event_id":"' + EVENT_ID.encode() + b'","extra":{"x":' + b"[" * 300 + b"]" * 300 + b"}}"
    body = make_envelope(items=[({"type": "event"}, deep)])
    sent = rewrite_request(recorded(body=body), TARGET, Options(fresh_ids=True), ids=counter_ids())
    assert deep in sent.decoded
    assert any("too deep" in change for change in sent.changes)
