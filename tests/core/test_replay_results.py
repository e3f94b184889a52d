"""The results of a replay (sentry_mirror.core.replay_results): the outcome of one answer
and the summary rows they add up to (the verdicts on real answers are in tests/io/test_replay.py)."""

from __future__ import annotations

from array import array
from collections import Counter

import pytest

from sentry_mirror.core.replay_results import ReplaySummary, Row, items_label


@pytest.mark.parametrize(
    ("types", "label"),
    [
        ((), "-"),
        (("event",), "event"),
        (("event", "attachment"), "event+attachment"),
        (("attachment", "event", "attachment"), "2×attachment+event"),
        (("",), "?"),
    ],
)
def test_items_label(types: tuple[str, ...], label: str) -> None:
    assert label == items_label(types) == items_label(list(types))


def test_a_row_counts_answers_by_class_with_429_apart() -> None:
    row = Row(
        "envelope",
        "event",
        outcomes=Counter({"accepted": 3, "rate-limited": 1, "held-back": 2, "transport-error": 1}),
        statuses=Counter({200: 2, 202: 1, 429: 1, 400: 1, 503: 2}),
        latencies=array("d", [1.0]),
    )
    assert 5 == row.sent  # all but the held back
    assert (3, 1, 2) == (row.count(2), row.count(4), row.count(5))


def test_an_empty_summary() -> None:
    summary = ReplaySummary()
    assert {
        "requests": 0,
        "failed": 0,
        "interrupted": False,
        "elapsed_s": 0.0,
        "outcomes": {},
        "rows": [],
        "rejections": [],
        "items_sent": {},
        "items_accepted": {},
        "items_held_back": {},
        "problems": {},
        "skipped": {},
    } == summary.to_dict()
