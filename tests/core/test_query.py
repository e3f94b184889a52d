"""Query: matching() keeps what select() keeps, describing records only when a filter needs it."""

from __future__ import annotations

from typing import Any

import pytest

from sentry_mirror.core import query as query_mod
from sentry_mirror.core.query import Query, is_status
from tests.factories import sample_records


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
