"""Merging aggregators: a report built over records A then B is the report built over A and
over B separately, then merged (``ReportBuilder.merge`` / each section's ``merge``); where a
bound makes this inexact, the documented bound holds."""

from __future__ import annotations

import itertools
import pickle
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentry_mirror.core import grouping, malformed, report, tolerant
from sentry_mirror.core.report import bounded, coverage, fields, health, pii, traffic, walker
from sentry_mirror.core.report.view import RecordView
from sentry_mirror.io.snapshot import iter_records

ROOT = Path(__file__).resolve().parents[3]
SNAPSHOTS = [
    ROOT / "snapshots" / "sample-node.jsonl.zst",
    ROOT / "snapshots" / "sample-browser.jsonl.zst",
    ROOT / "snapshots" / "sample-python.jsonl.zst",
    ROOT / "tests" / "data" / "v1-sentry-python-2.75.0.jsonl.zst",
]
MERGING = report.SECTIONS


def records_of(path: Path) -> list[dict[str, Any]]:
    return [r.data for r in iter_records([path])]


def compared(built: report.Report) -> dict[str, Any]:
    """The report's JSON without the busiest second, inexact when the parts split a second
    (all the committed snapshots were captured within one): checked apart, see :func:`busiest`."""
    data = built.to_json()
    data["traffic"] = {key: value for key, value in data["traffic"].items() if key != "busiest_second"}
    return data


def busiest(built: report.Report) -> int:
    return int(built.to_json()["traffic"]["busiest_second"]["requests"])


def fed(records: list[dict[str, Any]]) -> report.ReportBuilder:
    builder = report.ReportBuilder()
    for data in records:
        builder.add(data)
    return builder


def merged(records: list[dict[str, Any]], cut: int) -> report.ReportBuilder:
    first = fed(records[:cut])
    first.merge(fed(records[cut:]))
    return first


@pytest.mark.parametrize("path", SNAPSHOTS, ids=lambda p: p.name)
def test_merged_parts_give_the_whole(path: Path) -> None:
    records = records_of(path)
    built = fed(records).build(MERGING)
    whole = compared(built)
    for cut in range(1, len(records)):
        parts = merged(records, cut).build(MERGING)
        assert whole == compared(parts), cut
        assert busiest(parts) == busiest(built) == len(records)  # the second split between the parts is one


@pytest.mark.parametrize("path", SNAPSHOTS[:1], ids=lambda p: p.name)
def test_merged_parts_give_the_whole_past_the_bounds(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables past their row limits (SDKs, item types, monitors, personal-data rows, distinct
    values, counter keys) still merge to what one pass gives, on these records (``other``
    never drops a key ``self`` holds here; see test_capped_merge_… for when it does)."""
    for module, name, value in ((fields, "MAX_SDKS", 1), (traffic, "MAX_SIZED_TYPES", 2), (health, "MAX_MONITORS", 1),
                                (coverage, "MAX_DISTINCT", 2),
                                (walker, "MAX_DISTINCT", 2), (pii, "MAX_PII_ROWS", 3)):  # fmt: skip
        monkeypatch.setattr(module, name, value)
    monkeypatch.setattr(bounded.Capped.__init__, "__defaults__", (2,))
    records = records_of(path)
    whole = compared(fed(records).build(MERGING))
    assert whole["traffic"]["truncated"] and whole["pii"]["truncated"]
    for row in whole["pii"]["fields"]:
        row.pop("examples")  # the documented inexact case: see test_pii_examples_merge_in_order
    for cut in range(1, len(records)):
        parts = compared(merged(records, cut).build(MERGING))
        for row in parts["pii"]["fields"]:
            row.pop("examples")
        assert whole == parts, cut


def test_capped_merge_keeps_the_first_keys_past_the_limit() -> None:
    """Exact unless ``other`` dropped keys; then the keys are still the first met and only
    the counts of this counter's keys that ``other`` dropped are short."""
    keys = ["a", "b", "a", "c", "d", "b", "e", "c"]
    for cut in range(len(keys) + 1):
        one, first, second = bounded.Capped(3), bounded.Capped(3), bounded.Capped(3)
        for key in keys:
            one.add(key)
        for key in keys[:cut]:
            first.add(key)
        for key in keys[cut:]:
            second.add(key)
        first.merge(second)
        assert (list(one), one.truncated) == (list(first), first.truncated)
        if second.truncated:
            assert all(first[key] <= one[key] for key in one)
        else:
            assert list(one.items()) == list(first.items())


def test_reservoir_merge_is_exact_below_its_size_and_a_sample_of_both_above() -> None:
    small_a, small_b, small = bounded.Reservoir(10), bounded.Reservoir(10), bounded.Reservoir(10)
    for value in range(4):
        small_a.add(value)
        small.add(value)
    for value in range(10, 16):
        small_b.add(value)
        small.add(value)
    small_a.merge(small_b)
    assert small.to_json() == small_a.to_json()
    big_a, big_b = bounded.Reservoir(100), bounded.Reservoir(100)
    for value in range(1000):
        big_a.add(value)
    for value in range(1000, 4000):
        big_b.add(value)
    big_a.merge(big_b)
    figures = big_a.to_json()
    assert (4000, 3999, sum(range(4000))) == (figures["count"], figures["max"], figures["total"])
    assert 100 == len(big_a.sample()) and {v for v, _ in big_a.sample()} <= set(range(4000))
    assert 15 <= sum(v < 1000 for v, _ in big_a.sample()) <= 35  # a quarter of what was seen came from A
    assert 1500 <= figures["p50"] <= 2500
    big_a.add(5000)  # still a working sample
    assert 4001 == big_a.count and 100 == len(big_a.sample())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 50), st.floats(0, 1e6, allow_nan=False)), max_size=300),
       st.lists(st.integers(0, 300), max_size=4), st.integers(1, 40))  # fmt: skip
def test_reservoir_merge_is_what_one_pass_gives(values: list[float], cuts: list[int], size: int) -> None:
    """Past its size too: the sample keeps values by a fixed hash, not by the order met."""
    one = bounded.Reservoir(size)
    for value in values:
        one.add(value)
    bounds = [0, *sorted(min(cut, len(values)) for cut in cuts), len(values)]
    parts = []
    for start, end in itertools.pairwise(bounds):
        part = bounded.Reservoir(size)
        for value in values[start:end]:
            part.add(value)
        parts.append(pickle.loads(pickle.dumps(part)))
    merged = parts[0]
    for part in parts[1:]:
        merged.merge(part)
    assert one.to_json() == merged.to_json()
    assert one.percentile(0.99) == merged.percentile(0.99) and one.sample() == merged.sample()


def test_pii_examples_merge_in_order() -> None:
    """This row's examples, then the other's not among them."""

    def scanned(*emails: str) -> pii.Pii:
        personal = pii.Pii(walker.Walker(), engine="builtin")
        section = fields.Fields(personal.walker, personal)
        for email in emails:
            section.add(
                RecordView(
                    {"response": {"status": 200}, "summary": {"sdk": "sdk"}},
                    payloads=[({"user": {"email": email}}, "log")],
                )
            )
        return personal

    first, second = scanned("a@example.com"), scanned("b@example.com", "c@example.com", "d@example.com")
    first.merge(second)
    (row,) = first.result()["fields"]
    one = scanned("a@example.com", "b@example.com", "c@example.com", "d@example.com").result()["fields"][0]
    assert row == one and 4 == row["count"] and 3 == len(row["examples"])


def grouped(grouper: grouping.Grouper) -> list[dict[str, Any]]:
    return [group.to_dict() for group in grouper.groups()]


@pytest.mark.parametrize("max_groups", [2, 3, 100])
def test_groupers_merge_past_their_group_limit(max_groups: int) -> None:
    """Past ``max_groups``, the new groups of ``other`` go to "(other)" as one pass would put
    them; exact while ``other`` had no "(other)" group of its own."""
    events = [(payload, data) for data in records_of(SNAPSHOTS[2]) for payload, kind in RecordView(data).payloads
              if kind == "event"]  # fmt: skip
    for cut in range(1, len(events)):
        one, first, second = (grouping.Grouper(grouping.DEFAULT_STRATEGY, 3, max_groups) for _ in range(3))
        for event, data in events:
            one.add(event, data)
        for event, data in events[:cut]:
            first.add(event, data)
        for event, data in events[cut:]:
            second.add(event, data)
        first.merge(second)
        if grouping.OTHER_GROUPS not in second.builders:
            assert grouped(one) == grouped(first), cut
        assert sum(g.count for g in first.groups()) == len(events)


def test_transaction_groupers_merge_past_their_group_limit() -> None:
    transactions = [{"transaction": f"t{n % 4}", "start_timestamp": 1.0, "timestamp": 1.0 + n} for n in range(12)]
    for cut in range(1, len(transactions)):
        one, first, second = (grouping.TransactionGrouper(5, 3) for _ in range(3))
        for n, transaction in enumerate(transactions):
            one.add(transaction, f"2026-11-23T10:00:{n:02d}Z")
            (first if n < cut else second).add(transaction, f"2026-11-23T10:00:{n:02d}Z")
        first.merge(second)
        if (grouping.OTHER_GROUPS, None) not in second.builders:
            assert [g.to_dict() for g in one.groups()] == [g.to_dict() for g in first.groups()], cut


def spoilt(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with a summary the builder cannot read (a malformed record)."""
    return {**data, "summary": 5}


def test_merged_parts_count_the_malformed_records() -> None:
    records = records_of(SNAPSHOTS[2])
    bad = [spoilt(data) for data in records[:7]]  # more than Malformed's MAX_EXAMPLES
    mixed = records[:3] + bad[:1] + records[3:] + bad[1:]
    whole = fed(mixed).build(MERGING).to_json()["malformed"]
    assert whole["records"] == 7 and len(whole["examples"]) == malformed.MAX_EXAMPLES
    for cut in range(1, len(mixed)):
        assert whole == merged(mixed, cut).build(MERGING).to_json()["malformed"], cut


def test_merged_remarks_keep_their_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tolerant, "MAX_REMARKS", 3)
    first, second = report.ReportBuilder(), report.ReportBuilder()
    for name in ("a", "b"):
        first.remarks.wrong("event", name, 5)
    for name in ("b", "c", "d", "e", "f"):
        second.remarks.wrong("event", name, "x")
        second.remarks.wrong("event", name, "x")
    first.merge(second)
    assert first.remarks == {
        "event.a is an integer": 1,
        "event.b is an integer": 1,
        "event.b is a string": 2,
        "(other)": 8,  # c and d past the cap, and second's own (other)
    }
    assert sum(first.remarks.values()) == 12
