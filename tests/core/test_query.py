"""Query: matching() keeps what select() keeps, describing records only when a filter needs it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from sentry_mirror.core import query as query_mod
from sentry_mirror.core.query import Query, is_status
from tests.factories import T0, make_answer, sample_records


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return sample_records()


@pytest.mark.parametrize(
    "query",
    [
        Query(),
        Query(item_types=frozenset({"event"})),
        Query(statuses=frozenset({"2xx"}), limit=5),
        Query(levels=frozenset({"error"})),
        Query(environments=frozenset({"example"}), item_types=frozenset({"transaction"})),
        Query(levels=frozenset({"warning"}), limit=1),
    ],
)
def test_matching_keeps_what_select_keeps(records: list[dict[str, Any]], query: Query) -> None:
    expected = [data["id"] for data, _ in query.select(records)]

    assert expected == [data["id"] for data in query.matching(records)]
    assert expected  # every query here matches something in the sample


def test_matching_describes_records_only_for_row_filters(records: list[dict[str, Any]], monkeypatch: Any) -> None:
    described: list[str] = []
    real = query_mod.describe

    def counting(data: Any) -> Any:
        described.append(data["id"])
        return real(data)

    monkeypatch.setattr(query_mod, "describe", counting)
    list(Query(item_types=frozenset({"event"})).matching(records))
    assert [] == described
    list(Query(levels=frozenset({"error"})).matching(records))
    assert described


def test_is_status() -> None:
    assert all(is_status(value) for value in ("200", "404", "4xx", "5XX", "2xX"))
    assert not any(is_status(value) for value in ("abc", "", "4x", "x00", "4xxx", "²00", "-1", "20 0"))


def test_answer_records_are_kept_by_endpoint_item_types_and_time_only(records: list[dict[str, Any]]) -> None:
    """Forward mode's answer records (read by report) never crash a filter: those naming what
    an answer shares with its request apply to it, the others leave it alone (nor count it)."""
    answers = [make_answer(r, answered_at=T0 + timedelta(minutes=n)) for n, r in enumerate(records)]
    mixed = [one for pair in zip(records, answers, strict=True) for one in pair]

    def kept(query: Query) -> list[str]:
        return [data["id"] for data in query.matching(mixed) if data.get("kind") == "answer"]

    every = [a["id"] for a in answers]
    events = [a["id"] for a in answers if "event" in a["item_types"]]
    assert every == kept(Query(levels=frozenset({"error"}), statuses=frozenset({"4xx"}), grep="nothing such"))
    assert every[:2] == kept(Query(sdks=frozenset({"sentry.python"}), limit=3))  # reading stops at the 3rd request
    assert events == kept(Query(item_types=frozenset({"event"}))) and 0 < len(events) < len(every)
    assert every[2:5] == kept(Query(since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=4)))
    assert [] == kept(Query(endpoints=frozenset({"store"})))


def test_with_answers_keeps_the_answers_to_the_requests_kept_whatever_their_time(
    records: list[dict[str, Any]],
) -> None:
    """export's selection: the answers follow their requests, none of another request's,
    none read before its request; past the limit, the answers to the requests kept still come."""
    answers = [make_answer(r, answered_at=T0 + timedelta(days=1)) for r in records]  # after any --until
    early = make_answer(records[1], answered_at=T0, status=503)
    mixed = [early, *(one for pair in zip(records, answers, strict=True) for one in pair)]
    late = [*mixed[:4], *mixed[5:], make_answer(records[1], status=502), make_answer(records[0], status=429)]

    def ids(query: Query, stream: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(d.get("kind", "request"), d.get("request_id", d["id"])) for d in query.with_answers(stream)]

    assert [(d.get("kind", "request"), d.get("request_id", d["id"])) for d in mixed] == ids(Query(), mixed)
    errors = Query(levels=frozenset({"error"}), until=T0 + timedelta(hours=3))  # the answers come later
    chosen = [d["id"] for d in errors.matching(records)]
    assert 0 < len(chosen) < len(records)
    assert [pair for r in chosen for pair in (("request", r), ("answer", r))] == ids(errors, mixed)
    two = Query(limit=2)
    assert [
        ("request", records[0]["id"]), ("answer", records[0]["id"]), ("request", records[1]["id"]),
        ("answer", records[1]["id"]), ("answer", records[0]["id"]),
    ] == ids(two, late)  # fmt: skip
