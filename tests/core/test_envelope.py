"""The envelope byte grammar as Relay parses it, serialization, and fuzzing of the parser."""

from __future__ import annotations

import gzip
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sentry_mirror.core import envelope
from sentry_mirror.core.envelope import Envelope, Item
from sentry_mirror.errors import EnvelopeError
from tests.factories import EVENT_ID, make_envelope, make_event

H = b'{"event_id":"' + EVENT_ID.encode() + b'"}'
HEADERS = {"event_id": EVENT_ID}
BINARY = bytes(range(256))

VALID = [
    pytest.param(
        H + b'\n{"type":"event","length":2}\n{}\n',
        HEADERS,
        [({"type": "event", "length": 2}, b"{}")],
        id="explicit-length",
    ),
    pytest.param(
        H + b'\n{"type":"event","length":2}\n{}',
        HEADERS,
        [({"type": "event", "length": 2}, b"{}")],
        id="no-trailing-newline",
    ),
    pytest.param(
        H + b'\n{"type":"event"}\n{"a":1}\n', HEADERS, [({"type": "event"}, b'{"a":1}')], id="implicit-length"
    ),
    pytest.param(
        H + b'\n{"type":"event"}\n{"a":1}', HEADERS, [({"type": "event"}, b'{"a":1}')], id="implicit-length-at-eof"
    ),
    pytest.param(H + b'\n{"type":"event"}\n', HEADERS, [({"type": "event"}, b"")], id="implicit-length-empty-payload"),
    pytest.param(H + b'\n{"type":"event"}', HEADERS, [({"type": "event"}, b"")], id="item-header-at-eof"),
    pytest.param(
        H + b'\n{"type":"log"}\nabc\r\n',
        HEADERS,
        [({"type": "log"}, b"abc\r")],
        id="implicit-length-keeps-carriage-return",
    ),
    pytest.param(
        H + b'\n{"type":"attachment","length":5}\na\nb\r\n\n',
        HEADERS,
        [({"type": "attachment", "length": 5}, b"a\nb\r\n")],
        id="embedded-newlines",
    ),
    pytest.param(
        H + b'\n{"type":"attachment","length":256}\n' + BINARY + b"\n",
        HEADERS,
        [({"type": "attachment", "length": 256}, BINARY)],
        id="binary-payload",
    ),
    pytest.param(
        b'{}\n{"type":"attachment","length":0}\n\n{"type":"attachment","length":0}\n',
        {},
        [({"type": "attachment", "length": 0}, b""), ({"type": "attachment", "length": 0}, b"")],
        id="empty-payloads",
    ),
    pytest.param(
        b'{}\n{"type":"attachment","length":0}\n\n{"type":"attachment","length":0}',
        {},
        [({"type": "attachment", "length": 0}, b""), ({"type": "attachment", "length": 0}, b"")],
        id="empty-payload-at-eof",
    ),
    pytest.param(
        b'{}\n{"type":"a"}\nx\n\n\n{"type":"b"}\ny',
        {},
        [({"type": "a"}, b"x"), ({"type": "b"}, b"y")],
        id="blank-lines-between-items",
    ),
    pytest.param(b"{}", {}, [], id="header-only"),
    pytest.param(b"{}\n", {}, [], id="header-only-newline"),
    pytest.param(b'  {"a":1}\n', {"a": 1}, [], id="header-leading-whitespace"),
    pytest.param(b'{"event_id":null}', {"event_id": None}, [], id="event-id-null"),
    pytest.param(
        b'{"dsn":"https://k@h/1","sdk":{"name":"x"},"unknown":[1]}\n{"type":"x","custom":true}\n.',
        {"dsn": "https://k@h/1", "sdk": {"name": "x"}, "unknown": [1]},
        [({"type": "x", "custom": True}, b".")],
        id="unknown-keys-kept",
    ),
]


@pytest.mark.parametrize(("data", "headers", "items"), VALID)
def test_parse_valid(data: bytes, headers: dict[str, Any], items: list[tuple[dict[str, Any], bytes]]) -> None:
    """Valid envelopes parse to their header and items, payloads byte-exact."""
    expected = Envelope(headers, tuple(Item(h, p) for h, p in items))

    assert expected == envelope.parse(data)
    assert expected.items == envelope.items_of(data)


@pytest.mark.parametrize(
    ("nesting", "valid"), [(envelope.MAX_HEADER_DEPTH - 1, True), (envelope.MAX_HEADER_DEPTH, False)]
)
def test_header_nesting_limit(nesting: int, valid: bool) -> None:
    """Relay reads headers with serde_json, which stops at 128 levels of nesting."""
    data = b'{"a":' + b"[" * nesting + b"]" * nesting + b"}\n"
    if valid:
        value, depth = envelope.parse(data).headers["a"], 1
        while value:
            value, depth = value[0], depth + 1
        assert nesting == depth
    else:
        with pytest.raises(EnvelopeError, match="invalid envelope header"):
            envelope.parse(data)


def test_items_of_skips_the_header_line() -> None:
    """Readers that want only the items get them even when the header line is not JSON."""
    data = b'{"event_id": broken\n{"type":"event","length":2}\n{}\n'

    with pytest.raises(EnvelopeError):
        envelope.parse(data, strict=False)
    assert (Item({"type": "event", "length": 2}, b"{}"),) == envelope.items_of(data)


INVALID = [
    pytest.param(b"", "invalid envelope header", 0, id="empty"),
    pytest.param(b"hello\n{}", "invalid envelope header", 0, id="header-not-json"),
    pytest.param(b"[]\n", "invalid envelope header", 0, id="header-not-an-object"),
    pytest.param(b"\xff\xfe{}", "invalid envelope header", 0, id="header-not-utf-8"),
    pytest.param(gzip.compress(make_envelope(), mtime=0), "invalid envelope header", 0, id="gzip-bytes"),
    pytest.param(b'{"event_id":"xyz"}', "invalid envelope header", 0, id="event-id-not-uuid"),
    pytest.param(b'{"event_id":42}', "invalid envelope header", 0, id="event-id-not-string"),
    pytest.param(b'{"sent_at":"a","sent_at":"b"}', "invalid envelope header", 0, id="duplicate-sent-at"),
    pytest.param(b'{"sdk":{"name":"a","name":"b"}}', "invalid envelope header", 0, id="duplicate-nested-key"),
    pytest.param(
        b'{"a":' + b"[" * 1000 + b"]" * 1000 + b"}", "invalid envelope header", 0, id="header-nested-too-deep"
    ),
    pytest.param(H + b"\r\n", "missing newline after header or payload", 47, id="header-crlf"),
    pytest.param(H + b" \n", "missing newline after header or payload", 47, id="header-trailing-space"),
    pytest.param(H + b"\t", "missing newline after header or payload", 47, id="header-trailing-tab-at-eof"),
    pytest.param(b'{}\n{"type":"event"}\r\n{}', "missing newline after header or payload", 19, id="item-header-crlf"),
    pytest.param(
        b'{}\n{"type":"a","length":1}\nxy', "missing newline after header or payload", 28, id="length-one-short"
    ),
    pytest.param(
        b'{}\n{"type":"a","length":1}\nx\r\n', "missing newline after header or payload", 28, id="payload-crlf"
    ),
    pytest.param(b'{}\n{"type":"a","length":10}\nabc', "unexpected end of file", 31, id="length-past-end"),
    pytest.param(b'{}\n{"type":"a","length":1}\n', "unexpected end of file", 27, id="length-past-end-empty"),
    pytest.param(b'{}\n{"type":"a"}\nx\n\n', "unexpected end of file", 19, id="double-trailing-newline"),
    pytest.param(b"{}\n\n", "unexpected end of file", 4, id="header-double-newline"),
    pytest.param(b'{}\n{"type":\n', "invalid item header", 3, id="item-header-not-json"),
    pytest.param(b"{}\n[1]\n", "invalid item header", 3, id="item-header-not-an-object"),
    pytest.param(b'{}\n{"type":"a","length":-1}\nx', "invalid item header", 28, id="length-negative"),
    pytest.param(b'{}\n{"type":"a","length":1.0}\nx', "invalid item header", 29, id="length-float"),
    pytest.param(b'{}\n{"type":"a","length":true}\nx', "invalid item header", 30, id="length-bool"),
    pytest.param(b'{}\n{"type":"a","length":"1"}\nx', "invalid item header", 29, id="length-string"),
]


@pytest.mark.parametrize(("data", "cause", "offset"), INVALID)
def test_parse_invalid(data: bytes, cause: str, offset: int) -> None:
    """Malformed envelopes raise EnvelopeError with Relay's cause and the byte offset."""
    with pytest.raises(EnvelopeError) as info:
        envelope.parse(data)

    assert (cause, offset) == (info.value.cause, info.value.offset)


def test_event_id_normalised() -> None:
    """A dashed, upper-case envelope event_id reads as 32 lower-case hex digits."""
    parsed = envelope.parse(b'{"event_id":"9EC79C33-EC99-42AB-8353-589FCB2E04DC"}')

    assert EVENT_ID == parsed.event_id


def test_item_without_type() -> None:
    """An item header without ``type`` is an item of unknown type ``""`` (current Relay)."""
    parsed = envelope.parse(b'{}\n{"length":1}\nx')

    assert ("",) == parsed.item_types


def test_item_json() -> None:
    """Item.json parses the payload, and raises EnvelopeError when it is not JSON."""
    item = Item({"type": "event"}, b'{"a":1}')
    broken = Item({"type": "event"}, b"{not json")

    assert {"a": 1} == item.json()
    with pytest.raises(EnvelopeError) as info:
        broken.json()
    assert (
        "item payload of type 'event' is not JSON: "
        "unexpected character, expected a string key: line 1 column 2 (char 1)" == info.value.cause
    )


def test_serialize_python_style() -> None:
    """serialize writes sentry-python's form: length on every item, a newline after each payload."""
    parsed = Envelope(HEADERS, (Item({"type": "event"}, b"{}"), Item({"type": "attachment"}, b"a\nb")))

    expected = H + b'\n{"type":"event","length":2}\n{}\n{"type":"attachment","length":3}\na\nb\n'
    assert expected == envelope.serialize(parsed)


def test_serialize_javascript_style() -> None:
    """A JS-style envelope (implicit lengths, no final newline) is re-serialized with lengths."""
    data = H + b'\n{"type":"event"}\n{"a":1}\n{"type":"session"}\n{"s":2}'

    expected = H + b'\n{"type":"event","length":7}\n{"a":1}\n{"type":"session","length":7}\n{"s":2}\n'
    assert expected == envelope.serialize(envelope.parse(data))


def test_serialize_parse_round_trip() -> None:
    """Bytes in sentry-python's form come back unchanged through parse then serialize."""
    data = make_envelope(
        headers={
            "event_id": EVENT_ID,
            "sent_at": "2026-05-01T10:00:00.000Z",
            "sdk": {"name": "sentry.python", "version": "2.19.0"},
        },
        items=[
            ({"type": "event", "content_type": "application/json"}, orjson.dumps(make_event())),
            ({"type": "attachment", "filename": "hello.txt"}, b"\xef\xbb\xbfHello\r\n"),
            ({"type": "attachment", "filename": "b.bin"}, BINARY),
        ],
    )

    assert data == envelope.serialize(envelope.parse(data))


# ---------------------------------------------------------------- property tests

_json_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _json_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_json_text, inner, max_size=3),
    max_leaves=8,
)
_envelope_headers = st.dictionaries(_json_text.filter(lambda k: k != "event_id"), _json, max_size=4) | st.builds(
    lambda h: {"event_id": EVENT_ID, **h},
    st.dictionaries(_json_text.filter(lambda k: k != "event_id"), _json, max_size=3),
)
_item_headers = st.builds(lambda t, h: {"type": t, **h}, _json_text, st.dictionaries(_json_text, _json, max_size=3))


@settings(max_examples=300, deadline=None)
@given(_envelope_headers, st.lists(st.tuples(_item_headers, st.binary(max_size=64)), max_size=4))
@example({}, [])
@example({}, [({"type": "attachment"}, b"")])
@example({"event_id": EVENT_ID}, [({"type": "a", "length": 99}, b"\n\r\n"), ({"type": ""}, b"\x00")])
def test_round_trip(headers: dict[str, Any], items: list[tuple[dict[str, Any], bytes]]) -> None:
    """Any envelope serializes to bytes that parse back to it (lengths set on every item)."""
    built = Envelope(headers, tuple(Item(h, p) for h, p in items))

    expected = Envelope(headers, tuple(Item({**h, "length": len(p)}, p) for h, p in items))
    assert expected == envelope.parse(envelope.serialize(built))


_pieces = st.sampled_from(
    [
        b"{}",
        b"\n",
        b"\r",
        b" ",
        b"x",
        b"[",
        b"]",
        b"\xff",
        b'{"type":"a"}',
        b'{"length":1}',
        b'{"length":0}',
        b'{"a":1,"a":2}',
        H,
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200) | st.lists(_pieces, max_size=10).map(b"".join))
@example(b"")
@example(b"\n")
@example(b"{}\n\n")
@example(b'{}\n{"length":4294967296}\n')
@example(b'{}\n{"length":1e400}\n')
@example(b'{"a":' + b"[" * 1023 + b"]" * 1023 + b"}")
@example(b'{}\n{"a":' + b"[" * 1023 + b"]" * 1023 + b"}")
@example(b'{"a":"\\ud800"}')
@example(gzip.compress(b"{}", mtime=0))
def test_parse_raises_only_envelope_error(data: bytes) -> None:
    """envelope.parse either returns or raises EnvelopeError, whatever the bytes."""
    try:
        parsed = envelope.parse(data)
    except EnvelopeError as exc:
        assert isinstance(exc.cause, str) and exc.cause
    else:
        assert isinstance(parsed, Envelope)
        assert parsed.items == envelope.items_of(data)


#: Parses a header line of argv[2] MiB (where: argv[1]) in a fresh process and prints the
#: peak RSS it added, in MiB (tracemalloc misreads orjson's allocations).
_PEAK_OF_PARSE = """
import resource, sys
from sentry_mirror.core import envelope
size = int(sys.argv[2]) << 20
long = b'{"x":"' + b"A" * size + b'"}'
data = long + b"\\n{}\\n" if sys.argv[1] == "envelope" else b"{}\\n" + long + b"\\n"
del long
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
parsed = envelope.parse(data)
value = parsed.headers["x"] if sys.argv[1] == "envelope" else parsed.items[0].headers["x"]
assert value.startswith("AAAA") and value.endswith("…") and len(value) < 2000, len(value)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


@pytest.mark.parametrize("where", ["envelope", "item"])
def test_a_huge_header_line_is_parsed_without_a_copy_of_the_line(where: str) -> None:
    """A 198 MiB header line was sliced out of the body (a copy) before orjson made its
    string (twice more, transiently): now its long strings are checked in pieces and cut
    (core/leanjson.py), so parsing costs a small part of the line (issue 12, defect 3
    follow-up)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    mib = 48
    out = subprocess.run(
        [sys.executable, "-c", _PEAK_OF_PARSE, where, str(mib)],
        capture_output=True,
        check=True,
        cwd=root,
        env={"PYTHONPATH": str(root)},
    )
    added = float(out.stdout)
    assert added < 0.25 * mib, added


def test_trailing_whitespace_after_a_long_header_line_is_still_refused() -> None:
    long = b'{"x":"' + b"A" * (envelope.VIEW_ABOVE + 10) + b'"}'
    for data, offset in ((long + b" \n{}\n", len(long)), (b"{}\n" + long + b"\r\n", 3 + len(long))):
        with pytest.raises(EnvelopeError) as caught:
            envelope.parse(data)
        assert ("missing newline after header or payload", offset) == (caught.value.cause, caught.value.offset)
