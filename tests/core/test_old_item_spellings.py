"""Snapshots written before the mirror named ``trace-metric`` and ``profile_chunk_ui`` kept
the spelling sent in the record's summary; newer ones the type it is counted under. Every
reader of summary item types reads both alike: ``inspect`` rows, filters, the report's
counts, ``diff``."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from sentry_mirror.core import diffing, report
from sentry_mirror.core.describe import describe
from sentry_mirror.core.query import Query
from sentry_mirror.core.record import Record
from sentry_mirror.core.report.view import RecordView
from sentry_mirror.ui.filters import query
from tests.factories import T0, make_envelope, make_record, make_request

SPELLINGS = [("trace-metric", "trace_metric"), ("profile_chunk_ui", "profile_chunk")]


def _records(sent: str, *, old: bool) -> list[dict[str, Any]]:
    """Two records of an envelope with a ``sent`` item; ``old``: as the listener wrote them before."""
    body = make_envelope({"sdk": {"name": "sentry.python", "version": "2.75.0"}}, [({"type": sent}, b"{}")])
    records = []
    for n in range(2):
        request = make_request(path="/api/1/envelope/", body=body, query="sentry_key=k")
        data = make_record(request, received_at=T0 + timedelta(seconds=n), remote_addr="127.0.0.1:1")
        if old:
            data = copy.deepcopy(data)
            for item in data["summary"]["items"]:
                item["type"] = sent
        records.append(data)
    return records


@pytest.mark.parametrize(("sent", "counted"), SPELLINGS)
def test_old_and_new_records_read_alike(sent: str, counted: str) -> None:
    old, new = _records(sent, old=True), _records(sent, old=False)
    assert [counted] == [item["type"] for item in new[0]["summary"]["items"]]  # the listener's spelling today
    for data in (old[0], new[0]):
        assert (counted,) == describe(data).item_types
        assert [counted] == [item["type"] for item in RecordView(data).items]
        assert [counted] == Record(data).item_types


@pytest.mark.parametrize(("sent", "counted"), SPELLINGS)
def test_the_item_type_filter_finds_old_records_by_either_spelling(sent: str, counted: str) -> None:
    for spelling in (sent, counted):
        wanted = query({"item_types": (spelling,)})
        assert frozenset({counted}) == wanted.item_types
        assert 2 == len(list(wanted.matching(_records(sent, old=True))))
    assert 2 == len(list(Query(item_types=frozenset({counted})).matching(_records(sent, old=True))))


@pytest.mark.parametrize(("sent", "counted"), SPELLINGS)
def test_diff_of_an_old_and_a_new_snapshot_sees_no_new_or_lost_type(sent: str, counted: str) -> None:
    old = report.build_report(_records(sent, old=True))
    new = report.build_report(_records(sent, old=False))
    diff = diffing.diff_reports(old, new)
    assert [] == [c for c in diff.counts if c["what"] == "item_type"]
    assert {counted} <= set(new.section("traffic")["items_by_type"])
