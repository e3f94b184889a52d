"""Envelope bodies rewritten for a target (sentry_mirror.core.replay.envelope_rewrite); the request
around them is in test_rewrite.py."""

from __future__ import annotations

import orjson

from sentry_mirror.core import envelope
from sentry_mirror.core.replay.envelope_rewrite import drop_items, rewrite_envelope, rewrite_event_json
from sentry_mirror.core.replay.fresh_ids import IdMap
from tests.factories import EVENT_ID, make_envelope, make_event


def test_nothing_to_change_keeps_every_byte() -> None:
    data = make_envelope({"event_id": EVENT_ID, "dsn": "http://k@example.com/1"})
    result = rewrite_envelope(data, dsn="http://k@example.com/1", public_key="k")
    assert (data, (), EVENT_ID, ("event",)) == (result.body, result.changes, result.event_id, result.item_types)


def test_only_the_header_changes_when_only_the_dsn_does() -> None:
    data = make_envelope({"event_id": EVENT_ID, "dsn": "http://old@example.com/1"})
    result = rewrite_envelope(data, dsn="http://new@target/2", public_key=None)
    header, rest = result.body.split(b"\n", 1)
    assert {"event_id": EVENT_ID, "dsn": "http://new@target/2"} == orjson.loads(header)
    assert data.split(b"\n", 1)[1] == rest
    assert ("dsn",) == result.changes


def test_drop_items_takes_the_blank_lines_before_an_item_with_it() -> None:
    event = ({"type": "event"}, orjson.dumps(make_event()))
    session = ({"type": "session"}, b'{"sid":"s"}')
    data = make_envelope(items=[event, session]).replace(b'\n{"type":"session"', b'\n\n\n{"type":"session"')
    kept, dropped = drop_items(data, frozenset({"session"}))
    assert ("session",) == dropped
    assert make_envelope(items=[event]) == kept
    assert ["event"] == [item.type for item in envelope.parse(kept).items]
    assert (data, ()) == drop_items(data, frozenset({"transaction"}))


def test_a_store_body_that_is_not_an_event_is_sent_as_recorded() -> None:
    ids = IdMap()
    assert (b"[1, 2]", None, ()) == rewrite_event_json(b"[1, 2]", ids=ids, shift=1.0)
    assert (b"not json", None, ()) == rewrite_event_json(b"not json", ids=ids, shift=1.0)
    body = orjson.dumps({"event_id": EVENT_ID, "message": "no timestamps"})
    assert (body, EVENT_ID, ()) == rewrite_event_json(body, ids=None, shift=1.0)
