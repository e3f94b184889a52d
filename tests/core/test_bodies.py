"""A body that decodes to more than record.KEEP_ENCODED_ABOVE is kept compressed in its
record (``body_encoded``, format version 2), and readers get it through core/bodies.py."""

from __future__ import annotations

import base64
import gzip
import tracemalloc
from typing import Any

import orjson
import pytest

from sentry_mirror.core import bodies, encoding, envelope, grouping, record
from sentry_mirror.core.compat import migrate
from sentry_mirror.core.summary import record_facts
from tests.factories import make_envelope, make_event, make_record, make_request

KEY = "0123456789abcdef0123456789abcdef"
MIB = 1 << 20


def bomb_envelope(size: int, tail: bytes = b"") -> bytes:
    """An error event, then an attachment of ``size`` zeros (ending with ``tail``), then a log."""
    event = orjson.dumps(make_event(exception={"values": [{"type": "ValueError", "value": "the bomb"}]}))
    log = orjson.dumps({"items": [{"body": "after the bomb", "level": "info"}]})
    return make_envelope(
        items=[
            ({"type": "event"}, event),
            ({"type": "attachment", "filename": "bomb.bin"}, bytes(size - len(tail)) + tail),
            ({"type": "log", "item_count": 1, "content_type": "application/vnd.sentry.items.log+json"}, log),
        ]
    )


def capture(body: bytes, content_encoding: str | None = "gzip") -> dict[str, Any]:
    wire = gzip.compress(body, 9) if content_encoding else body
    headers = (("X-Sentry-Auth", f"Sentry sentry_key={KEY}, sentry_version=7"),)
    if content_encoding:
        headers += (("Content-Encoding", content_encoding),)
    entry = make_record(
        make_request(path="/api/1/envelope/", body=wire, headers=headers, query=""), remote_addr="127.0.0.1:1"
    )
    return orjson.loads(record.dumps(entry))  # as a reader gets it


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(record, "KEEP_ENCODED_ABOVE", 1 * MIB)
    return 1 * MIB


def test_a_body_over_the_threshold_is_kept_as_received(small_threshold: int) -> None:
    body = bomb_envelope(2 * MIB)
    data = capture(body)
    wire = gzip.compress(body, 9)
    assert (2, True, True, True) == (data["v"], data["body_encoded"], data["body_base64"], data["body_decoded"])
    assert (len(wire), len(body), wire) == (data["wire_size"], data["body_size"], base64.b64decode(data["body"]))
    assert ["event", "attachment", "log"] == [item["type"] for item in data["summary"]["items"]]
    assert 200 == data["response"]["status"]
    assert body == record.Record(migrate(data)).body == bodies.whole(data)


def test_a_body_under_it_is_stored_decoded_and_written_as_version_1(small_threshold: int) -> None:
    """Old readers keep reading every record that has no compressed body."""
    body = bomb_envelope(small_threshold - 4096)
    data = capture(body)
    assert (1, False) == (data["v"], "body_encoded" in data)
    assert body == data["body"].encode() == bodies.stored(data) == bodies.whole(data)
    assert (body,) == tuple(bodies.chunks(data))


def test_an_identity_body_is_never_kept_encoded(small_threshold: int) -> None:
    body = bomb_envelope(2 * MIB)
    data = capture(body, content_encoding=None)
    assert (1, False, body) == (data["v"], "body_encoded" in data, bodies.stored(data))


def test_chunks_decode_the_body_in_bounded_pieces(small_threshold: int) -> None:
    body = bomb_envelope(3 * MIB)
    parts = list(bodies.chunks(capture(body)))
    assert body == b"".join(parts)
    assert len(parts) > 1 and max(map(len, parts)) <= encoding.CHUNK


def test_readable_is_the_envelope_without_its_big_items(small_threshold: int) -> None:
    """What summaries read: the event and the log, not the 3 MiB attachment."""
    data = capture(bomb_envelope(3 * MIB))
    slim = bodies.readable(data)
    parsed = envelope.parse(slim, strict=False)
    assert ["event", "log"] == [item.type for item in parsed.items]
    assert len(slim) < 4096
    assert "ValueError: the bomb" == record_facts({**data, "summary": {}}).title
    events = list(grouping.events_of(data, frozenset({"event", "log"})))
    assert ["event", "log"] == [kind for _, kind in events]


def test_readable_of_a_body_that_is_no_envelope_is_its_start(small_threshold: int) -> None:
    data = capture(b"x" * (3 * MIB))  # answered 400, but decoded: over the threshold
    assert data["body_encoded"]
    assert b"x" * bodies.KEEP == bodies.readable(data)


def test_contains_finds_text_across_chunk_boundaries(small_threshold: int) -> None:
    needle = b"needle-in-the-bomb"
    size = encoding.CHUNK * 6
    for _ in range(3):  # place the needle 5 bytes before the end of the sixth chunk
        body = bomb_envelope(size, tail=needle)
        size += 6 * encoding.CHUNK - 5 - body.index(needle)
    assert 6 * encoding.CHUNK - 5 == body.index(needle)
    data = capture(body)
    assert data["body_encoded"]
    assert bodies.contains(data, needle)
    assert not bodies.contains(data, b"needle-not-there")
    assert bodies.contains(capture(bomb_envelope(4096, tail=needle)), needle)  # stored decoded


def test_contains_and_readable_hold_little_memory(small_threshold: int) -> None:
    data = capture(bomb_envelope(24 * MIB, tail=b"end"))
    tracemalloc.start()
    try:
        assert bodies.contains(data, b"end")
        bodies.readable(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MIB


def test_a_truncated_item_ends_the_readable_envelope(small_threshold: int) -> None:
    """A cut-off stream (it cannot happen for a body that decoded, but readers must not
    trust a record) gives the items that are whole."""
    body = bomb_envelope(2 * MIB)
    cursor = bodies._Cursor(iter([body[: len(body) // 2]]))
    slim = bodies._slim_envelope(cursor, bodies.KEEP)
    assert slim is not None
    assert ["event"] == [item.type for item in envelope.parse(slim, strict=False).items]


def test_readable_stops_decoding_after_the_last_small_item(
    small_threshold: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By the summary, nothing after the attachment is small: the rest is not decoded (a
    `group` over four 199 MiB bombs took 4.5 s decoding them to the end)."""
    event = orjson.dumps(make_event())
    body = make_envelope(items=[({"type": "event"}, event), ({"type": "attachment"}, bytes(8 * MIB))])
    data = capture(body)
    pulled = 0
    real_chunks = bodies.chunks

    def counted(record_data: dict[str, Any]) -> Any:
        nonlocal pulled
        for chunk in real_chunks(record_data):
            pulled += len(chunk)
            yield chunk

    monkeypatch.setattr(bodies, "chunks", counted)
    slim = bodies.readable(data)
    assert ["event"] == [item.type for item in envelope.parse(slim, strict=False).items]
    assert pulled <= encoding.CHUNK


def test_version_2_reads_and_a_newer_one_asks_to_upgrade() -> None:
    """Version 2 only adds ``body_encoded``: a version-1 record reads as it is, a version-2
    one too; an older sentry-mirror refuses version 2 (it would read gzip as the body)."""
    from sentry_mirror.errors import FormatVersionError

    old = {"v": 1, "id": "1" * 32, "body": "x", "body_base64": False}
    assert old == migrate(dict(old)) and b"x" == record.Record(migrate(dict(old))).body
    assert 2 == migrate({**old, "v": 2, "body_encoded": False})["v"]
    with pytest.raises(FormatVersionError, match="upgrade"):
        migrate({**old, "v": record.NEWEST_VERSION + 1})


def test_readable_of_a_short_body_that_is_no_envelope_is_all_of_it(small_threshold: int) -> None:
    data = capture(b"y" * (2 * MIB))
    assert data["body_encoded"]
    assert b"y" * (2 * MIB) == bodies.readable(data, keep=3 * MIB)
