"""A record's shape is checked once where it is read; odd payload fields are treated as absent."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentry_mirror.core import grouping, lenient, report, shape, tolerant
from sentry_mirror.core.malformed import Malformed
from sentry_mirror.errors import DecodeError
from tests.factories import make_record, sample_records
from tests.test_record_fuzz import ODD_RECORDS, golden_records, mutated


def test_every_record_the_listener_wrote_is_usable() -> None:
    records = golden_records()
    assert len(records) > 30
    assert [] == [(data["id"], shape.problem(data)) for data in records if shape.problem(data) is not None]
    assert all(shape.usable(data) for data in records)


@pytest.mark.parametrize("case", [case for case in ODD_RECORDS if case != "only v"])
def test_each_odd_record_is_named_by_its_field(case: str) -> None:
    odd = {**golden_records()[1], **ODD_RECORDS[case]}
    found = shape.problem(odd)
    assert found is not None and not shape.usable(odd)
    field = next(iter(ODD_RECORDS[case]))
    assert field.split("_")[0] in found or "size" in found, found


def test_the_reasons_say_what_is_wrong() -> None:
    data = golden_records()[0]
    assert "no field id" == shape.problem({k: v for k, v in data.items() if k != "id"})
    assert "summary.items is an integer, not an array or null" == shape.problem({**data, "summary": {"items": 1}})
    assert "auth.form is an array, not a string" == shape.problem({**data, "auth": {"form": []}})
    warning = shape.skipped("f.jsonl.zst", {**data, "id": "x\x1b[2J"}, "why")
    assert "f.jsonl.zst: skipped record 'x\\x1b[2J': why" == warning and "x\x1b[2J" == warning.record_id


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_the_fast_check_and_the_reason_agree(data: st.DataObject) -> None:
    """usable() (the hot path) says yes exactly when problem() has nothing to say."""
    original = data.draw(st.sampled_from(golden_records()))
    odd = data.draw(mutated(original))
    if isinstance(odd, dict):
        assert shape.usable(odd) == (shape.problem(odd) is None)


def test_lone_surrogates_are_kept_as_sent() -> None:
    """Payloads keep lone surrogates as sent (JSON output escapes them: test_safe_output)."""
    event = lenient.loads(b'{"message": "a\\ud800b", "x\\udc00": ["\\ud83d\\ude00", 1]}')
    assert {"message": "a\ud800b", "x\udc00": ["\U0001f600", 1]} == event
    assert 32 == len(grouping.group_hash(("message:a\ud800",)))  # a caller's own events may hold them


def test_a_field_of_the_wrong_type_is_absent_and_remarked() -> None:
    remarks = tolerant.Remarks()
    assert [] == tolerant.as_list(1, remarks, "transaction", "spans")
    assert [] == tolerant.as_list(None, remarks, "transaction", "spans")  # absent: no remark
    assert [1] == tolerant.as_list([1], remarks, "transaction", "spans")
    assert {"transaction.spans is an integer": 1} == remarks


def test_a_bug_on_one_event_costs_that_record_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The last resort: an aggregator raising on one record counts it as malformed, names it,
    and the rest of the capture is still grouped and reported."""
    records = sample_records()
    unlucky = records[0]["summary"]["event_id"]
    real = grouping.culprit

    def culprit(event: Any) -> Any:
        if event.get("event_id") == unlucky:
            raise RuntimeError("boom")
        return real(event)

    monkeypatch.setattr("sentry_mirror.core.grouping.groups.culprit", culprit)
    warnings: list[str] = []
    malformed = Malformed(warnings.append, where="group")
    groups = grouping.group_records(records, malformed=malformed)
    assert 8 == sum(g.count for g in groups) and 1 == malformed.count
    assert [f"group: skipped record {records[0]['id']}: RuntimeError: boom"] == [
        w.split(" (a bug")[0] for w in warnings
    ]
    built = report.build_report(records, ["traffic", "issues"], malformed=Malformed(warnings.append, where="report"))
    data = built.to_json()
    assert 1 == data["malformed"]["records"] and records[0]["id"] == data["malformed"]["examples"][0]["id"]
    assert 8 == data["issues"]["events"] and 13 == data["traffic"]["requests"]
    assert orjson.dumps(data)


def test_a_record_whose_data_fails_is_named_without_blaming_sentry_mirror() -> None:
    """A body kept compressed that does not decode is the record's fault (hand-made or damaged),
    not a bug: the warning says what is wrong with it."""
    warnings: list[str] = []
    malformed = Malformed(warnings.append, where="report")
    malformed.failed(make_record(id="3" * 32), DecodeError("body does not decode as gzip"))
    malformed.failed(make_record(id="4" * 32), KeyError("x"))
    assert 2 == malformed.count
    assert "body does not decode as gzip" in warnings[0] and "a bug" not in warnings[0]
    assert "a bug in sentry-mirror" in warnings[1]
