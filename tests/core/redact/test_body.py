"""Bodies by endpoint (core/redact/body.py): envelopes, attachments, store and report bodies."""

from __future__ import annotations

import base64
import zlib

import orjson

from sentry_mirror.core import envelope, pii
from sentry_mirror.core.redact import DROP, PLACEHOLDER, BodyRedactor, Pseudonyms, placeholder
from tests.factories import make_envelope, make_event

KEY = b"k" * 32
EVENT = make_event(user={"email": "jane@example.com"}, message="from 203.0.113.7")


def parts(attachments: str = PLACEHOLDER) -> BodyRedactor:
    return BodyRedactor(Pseudonyms(KEY), attachments)


def with_attachment() -> bytes:
    return make_envelope(
        {"event_id": "a" * 32, "dsn": "https://0123456789abcdef0123456789abcdef@o1.example/1"},
        [
            ({"type": "event"}, EVENT),
            ({"type": "attachment", "filename": "/home/jane/dump.bin"}, b"\x00\xffjane@example.com\n\x01"),
            ({"type": "session"}, {"sid": "x", "attrs": {"ip_address": "203.0.113.7"}}),
        ],
    )


def test_an_envelope_keeps_its_items_with_their_lengths_right() -> None:
    out = envelope.parse(parts().envelope(with_attachment()))
    assert ["event", "attachment", "session"] == [item.type for item in out.items]
    for item in out.items:
        assert len(item.payload) == item.headers["length"]
    event = orjson.loads(out.items[0].payload)
    assert event["user"]["email"].startswith("<email:") and "203.0.113.7" not in event["message"]
    assert "jane" not in out.items[1].headers["filename"]
    assert placeholder(20) == out.items[1].payload  # as long as the attachment was
    assert "0123456789abcdef0123456789abcdef" not in out.headers["dsn"]
    assert [] == [f for item in out.items[::2] for f in pii.scan(orjson.loads(item.payload), item.type)]


def test_attachments_can_be_dropped() -> None:
    out = envelope.parse(parts(DROP).envelope(with_attachment()))
    assert ["event", "session"] == [item.type for item in out.items]


def test_a_placeholder_is_the_size_asked() -> None:
    assert [0, 1, 10, 25] == [len(placeholder(n)) for n in (0, 1, 10, 25)]
    assert b"[redacted][red" == placeholder(14)


def test_store_bodies_in_every_encoding_are_written_back_as_json() -> None:
    raw = orjson.dumps(EVENT)
    for body in (raw, base64.b64encode(raw), base64.b64encode(zlib.compress(raw))):
        out = orjson.loads(parts().body("store", body, readable=True))
        assert out["user"]["email"].startswith("<email:")


def test_a_security_report_and_other_json_and_text() -> None:
    report = {"csp-report": {"document-uri": "https://shop.example/?email=jane@example.com"}}
    out = orjson.loads(parts().body("security", orjson.dumps(report), readable=True))
    assert "jane@example.com" not in out["csp-report"]["document-uri"]
    assert b"jane@example.com" not in parts().body("unknown", b"contact jane@example.com", readable=True)


def test_bodies_that_cannot_be_read_go_as_attachments() -> None:
    wire = b"\x1f\x8b\x08 not really gzip jane@example.com"
    assert placeholder(len(wire)) == parts().body("envelope", wire, readable=False)
    assert b"" == parts(DROP).body("minidump", b"MDMP jane@example.com", readable=True)
    assert placeholder(3) == parts().body("unknown", b"\xff\xfe\x00", readable=True)


def test_json_no_parser_writes_is_written_all_the_same() -> None:
    body = b'{"n": 123456789012345678901234567890, "s": "\\ud800 jane@example.com", "f": NaN}'
    out = parts().body("unknown", body, readable=True)
    assert b"jane@example.com" not in out and b"123456789012345678901234567890" in out
