"""What a candidate's API says about what it stored (sentry_mirror.core.replay.stored): which
items are asked about, what each answer means, and the summary per item type (the calls
themselves are in tests/io/test_stored_api.py)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentry_mirror.core.replay.results import Result
from sentry_mirror.core.replay.stored import (
    MAX_EXAMPLES,
    MAX_REASONS,
    OTHER_REASONS,
    StoredCheck,
    event_ids,
    event_verdict,
    page,
)
from tests.factories import make_result

A, B, C = "a" * 32, "b" * 32, "c" * 32


def result(
    event_id: str | None = A,
    item_types: tuple[str, ...] = ("event",),
    status: int | None = 200,
    project: str = "1",
    error: str | None = None,
) -> Result:
    result: Result = make_result(event_id, item_types, status, project, error)
    return result


@pytest.mark.parametrize(
    ("status", "body", "verdict"),
    [
        (200, b'{"eventID": "aa"}', "found"),
        (200, b"<html>login</html>", "answered 200 without a JSON event"),
        (200, b"[]", "answered 200 without a JSON event"),
        (404, b'{"detail": "Event not found"}', "missing"),
        (401, b"", "denied"),
        (403, b"", "denied"),
        (429, b"", "the API answered 429"),
        (502, b"", "the API answered 502"),
        (302, b"", "the API answered 302"),
    ],
)
def test_event_verdict(status: int, body: bytes, verdict: str) -> None:
    assert verdict == event_verdict(status, body)


def test_a_bugsink_page_and_its_next_cursor() -> None:
    body = orjson.dumps(
        {
            "next": "https://proxy.example/api/canonical/0/events/?cursor=cD0y%3D&issue=5",
            "previous": None,
            "results": [{"event_id": "AAAAAAAA-aaaa-aaaa-aaaa-aaaaaaaaaaaa"}, {"event_id": "nope"}, "x"],
        }
    )
    results, cursor = page(body)
    assert "cD0y=" == cursor
    assert {A} == event_ids(results)
    assert ([], None) == page(b'{"next": null, "results": []}')
    for bad in (b"<html>", b"[]", b'{"results": 3}'):
        with pytest.raises(ValueError):
            page(bad)


@given(st.binary(max_size=200))
def test_any_body_is_a_page_or_a_value_error(body: bytes) -> None:
    try:
        results, cursor = page(body)
    except ValueError:
        return
    assert all(isinstance(r, dict) for r in results) and (cursor is None or isinstance(cursor, str))


def test_accepted_events_are_asked_about_and_the_rest_is_counted() -> None:
    check = StoredCheck("sentry", project="1")
    check.add(result(A, ("event", "attachment")))
    check.add(result(B, ("transaction",)))
    check.add(result(C, ("event",), status=400))
    check.add(result(None, ("session",), status=None))  # held back: not sent
    check.add(result("d" * 32, ("event",), error="ConnectionRefusedError"))
    check.add(result("e" * 32, ("event",), project="2"))  # --project-map elsewhere
    check.add(result(None, ("event",)))
    check.add(result("f" * 32, ("event", "event")))
    assert {"1": [A, B, "f" * 32]} == check.questions()
    assert {
        ("attachment", "Sentry's API has no lookup for attachment items"): 1,
        ("event", "sent to project 2, not to the DSN's (1) that --api-project names"): 1,
        ("event", "sent without an event id"): 1,
        ("event", "a second event item in one envelope"): 1,
    } == dict(check.reasons)
    assert {"rejected": 2, "cannot tell": 3} == dict(check.counts["event"])


def test_glitchtip_and_bugsink_look_up_error_events_only() -> None:
    for kind, name in (("glitchtip", "GlitchTip"), ("bugsink", "Bugsink")):
        check = StoredCheck(kind, project="1")
        check.add(result(A, ("transaction",)))
        check.add(result(B, ("event",), project="9"))
        reasons = {("transaction", f"{name}'s API has no lookup for transaction items"): 1}
        if kind == "glitchtip":  # one project, by ORG/SLUG; Bugsink: any, by id
            reasons[("event", "sent to project 9, not to the DSN's (1) that --api-project names")] = 1
        assert reasons == dict(check.reasons)
        assert (["9"] if kind == "bugsink" else []) == list(check.questions())


def test_answers_add_up_per_item_type() -> None:
    check = StoredCheck("sentry", project="1")
    for event_id, types in ((A, ("event",)), (B, ("transaction",)), (C, ("event",)), ("d" * 32, ("event",))):
        check.add(result(event_id, types))
    check.add(result(A, ("event",)))  # the same event sent twice
    check.found(A)
    check.missing(B)
    check.failed(C, "the API answered 502")
    check.failed("d" * 32, "the API answered 502")
    check.missing("d" * 32)  # asked again: now a plain 404
    check.unanswerable("e" * 32, "unknown ids are ignored")
    check.finish()
    assert [("event", 2, 1, 0, 1), ("transaction", 0, 1, 0, 0)] == check.rows()
    assert {("event", "the API answered 502"): 1} == dict(check.reasons)
    assert {"transaction": [B], "event": ["d" * 32]} == check.examples
    assert 2 == check.not_stored and not check.pending
    assert {
        "api": "",
        "kind": "sentry",
        "item_types": {
            "event": {"stored": 2, "not_stored": 1, "rejected": 0, "cannot_tell": 1},
            "transaction": {"stored": 0, "not_stored": 1, "rejected": 0, "cannot_tell": 0},
        },
        "cannot_tell": [{"item_type": "event", "reason": "the API answered 502", "count": 1}],
        "not_stored_examples": {"transaction": [B], "event": ["d" * 32]},
        "not_stored": 2,
        "api_requests": 0,
        "waited_s": 0.0,
    } == check.to_dict()


def test_examples_and_reasons_are_bounded() -> None:
    check = StoredCheck("bugsink")
    ids = [f"{n:032x}" for n in range(MAX_EXAMPLES + 5)]
    for event_id in ids:
        check.add(result(event_id))
    for n, event_id in enumerate(ids[:3]):
        check.unanswerable(event_id, f"reason {n}")
    check.finish()
    assert MAX_EXAMPLES == len(check.examples["event"]) and len(ids) - 3 == check.not_stored
    for n in range(MAX_REASONS + 10):
        check.add(result(None, (f"type{n}",)))
    assert MAX_REASONS + 1 == len(check.reasons)
    assert 3 + MAX_REASONS + 10 - MAX_REASONS == check.reasons[(OTHER_REASONS, OTHER_REASONS)]
