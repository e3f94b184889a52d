"""Merging groupers is exact: the records cut anywhere into parts, each part grouped on its
own and the parts merged in order, give what one pass over all of them gives (``--jobs``)."""

from __future__ import annotations

import functools
import itertools
import pickle
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentry_mirror.core.grouping import (
    OTHER_GROUPS,
    STRATEGIES,
    Comparer,
    Grouper,
    Sample,
    TransactionGrouper,
)
from sentry_mirror.core.grouping.groups import MAX_VALUES
from sentry_mirror.io.snapshot import iter_records
from tests.factories import make_envelope, make_record, make_request

ROOT = Path(__file__).parents[3]
CAPTURES = [
    ROOT / "snapshots" / "sample-browser.jsonl.zst",
    ROOT / "snapshots" / "sample-node.jsonl.zst",
    ROOT / "snapshots" / "sample-python.jsonl.zst",
    ROOT / "tests" / "data" / "v1-sentry-python-2.75.0.jsonl.zst",
]

G = TypeVar("G", Grouper, TransactionGrouper, Comparer)


@functools.cache
def _records(path: Path) -> list[Mapping[str, Any]]:
    return [record.data for record in iter_records([path])]


def _all_records() -> list[Mapping[str, Any]]:
    """Every capture one after the other: errors and transactions of three SDKs."""
    return [data for path in CAPTURES for data in _records(path)]


def _fed(make: Callable[[], G], records: Sequence[Mapping[str, Any]]) -> G:
    grouper = make()
    grouper.feed(records)
    return grouper


def _merged(make: Callable[[], G], parts: Sequence[Sequence[Mapping[str, Any]]]) -> G:
    first, *rest = [_fed(make, part) for part in parts]
    for other in rest:
        first.merge(other)  # type: ignore[arg-type]
    return first


def _result(grouper: Grouper | TransactionGrouper | Comparer) -> Any:
    if isinstance(grouper, Comparer):
        return grouper.result()
    return [group.to_dict() for group in grouper.groups()]


MAKERS: dict[str, Callable[[], Any]] = {
    **{f"{name}, 100 ids": functools.partial(Grouper, name, 100) for name in STRATEGIES},
    "sentry, 1 id": functools.partial(Grouper, "sentry", 1),
    "message, 2 ids": functools.partial(Grouper, "message", 2),
    "transactions": TransactionGrouper,
    "transactions, 1 duration": functools.partial(TransactionGrouper, 1),
    "transactions, 2 durations": functools.partial(TransactionGrouper, 2),
    "compare": functools.partial(Comparer, list(STRATEGIES), 2),
}


@pytest.mark.parametrize("maker", MAKERS)
def test_two_parts_cut_anywhere_merge_into_the_single_pass(maker: str) -> None:
    make, records = MAKERS[maker], _all_records()
    whole = _fed(make, records)
    expected = _result(whole)
    assert expected and not whole.truncated
    for cut in range(len(records) + 1):
        assert expected == _result(_merged(make, [records[:cut], records[cut:]])), cut


@pytest.mark.parametrize("maker", ["sentry, 1 id", "transactions, 1 duration", "compare"])
def test_many_parts_merge_into_the_single_pass(maker: str) -> None:
    make, records = MAKERS[maker], _all_records()
    expected = _result(_fed(make, records))
    for step in (1, 2, 3, 7):
        parts = [records[i : i + step] for i in range(0, len(records), step)]
        assert expected == _result(_merged(make, parts)), step


def _error(n: int, **fields: Any) -> Mapping[str, Any]:
    event = {"exception": {"values": [{"type": f"Error{n}", "value": "x"}]}, **fields}
    return make_record(make_request(body=make_envelope({}, [({"type": "event"}, event)])))


def test_past_max_groups_a_grouper_says_it_is_truncated() -> None:
    records = [_error(n % 4) for n in range(8)]
    small = _fed(lambda: Grouper("sentry", 10, max_groups=3), records)
    assert small.truncated and OTHER_GROUPS in [g.hash for g in small.groups()]
    assert not _fed(lambda: Grouper("sentry", 10, max_groups=4), records).truncated
    transactions = _fed(lambda: TransactionGrouper(10, max_groups=1), _all_records())
    assert transactions.truncated


def test_a_group_that_drops_a_level_says_it_is_truncated() -> None:
    records = [_error(0, level=f"custom{n}") for n in range(MAX_VALUES + 1)]
    assert not _fed(lambda: Grouper("sentry", 10), records[:-1]).truncated
    assert _fed(lambda: Grouper("sentry", 10), records).truncated


def _sample(values: Sequence[float], size: int) -> Sample:
    sample = Sample(size)
    for value in values:
        sample.add(value)
    return sample


series = st.lists(st.one_of(st.integers(0, 30), st.floats(0, 1e6, allow_nan=False)), max_size=120)


@settings(max_examples=60, deadline=None)
@given(values=series, size=st.integers(1, 12), cuts=st.lists(st.integers(0, 120), max_size=4))
def test_a_sample_cut_anywhere_merges_into_the_single_pass(values: list[float], size: int, cuts: list[int]) -> None:
    whole = _sample(values, size)
    bounds = [0, *sorted(min(cut, len(values)) for cut in cuts), len(values)]
    merged = Sample(size)
    for start, end in itertools.pairwise(bounds):
        merged.merge(pickle.loads(pickle.dumps(_sample(values[start:end], size))))
    assert (whole.seen, whole.counts) == (merged.seen, merged.counts)
    for fraction in (0.0, 0.5, 0.95, 1.0):
        assert whole.quantile(fraction) == merged.quantile(fraction)


def test_a_sample_keeps_every_distinct_value_up_to_its_size_with_its_repeats() -> None:
    sample = _sample([3.0, 1.0, 3.0, 2.0, 3.0], 3)
    assert ([1.0, 2.0, 3.0, 3.0, 3.0], 5) == (sample.values, sample.seen)
    assert (3.0, 1.0, 3.0) == (sample.quantile(0.5), sample.quantile(0), sample.quantile(1))
    over = _sample([float(n) for n in range(10)] + [4.0] * 5, 3)
    assert (15, 3) == (over.seen, len(over.counts))
    assert over.counts.get(4.0, 6) == 6  # kept with every repeat, or not at all
    assert Sample(3).quantile(0.5) is None
    ties = [_sample(order, 1).counts for order in ([0.0, -0.0], [-0.0, 0.0], [float("nan"), 0.0])]
    assert [{0.0: 2}, {0.0: 2}, {0.0: 1}] == ties


def test_a_full_sample_crosses_a_process_without_its_heap_and_keeps_sampling_the_same() -> None:
    values = [float(n * 7 % 101) for n in range(300)]
    part = pickle.loads(pickle.dumps(_sample(values[:150], 20)))
    assert sorted(part.heap) == sorted(_sample(values[:150], 20).heap)  # rebuilt on loading
    for value in values[150:]:
        part.add(value)
    assert (_sample(values, 20).counts, 300) == (part.counts, part.seen)
    assert b"heap" not in pickle.dumps(part)
