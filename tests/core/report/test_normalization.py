"""The ``normalization`` section: what Relay's store normaliser and default scrubbing (the
real ``sentry-relay`` package) would change in each event, on real SDK events (the committed
samples, a fresh capture from the real sentry-sdk) and on events built to be trimmed,
corrected or rejected; the remarks asserted are Relay's own."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest
import sentry_sdk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentry_mirror.core import relay_normalize, report
from sentry_mirror.core.report import normalization
from sentry_mirror.core.report.builder import ReportBuilder
from sentry_mirror.core.report.normalization_changes import changes_of, display
from sentry_mirror.errors import MirrorError
from sentry_mirror.io.snapshot import iter_records
from tests.factories import EVENT_ID, make_envelope, make_event, make_record, make_request
from tests.helpers import require_relay

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = [
    *sorted((ROOT / "snapshots").glob("sample-*.jsonl.zst")),
    ROOT / "tests/data/v1-sentry-python-2.75.0.jsonl.zst",
]
#: The factories' receive time (T0), and one second before it.
RECEIVED = "2026-11-23T10:00:00.000000Z"
JUST_BEFORE = "2026-11-23T09:59:59Z"
TRACE = {"trace": {"trace_id": "4c79f60c11214eb38604f4ae0781bfb2", "span_id": "fa90fdead5f74053"}}


@pytest.fixture(autouse=True)
def _relay() -> None:
    require_relay()


def record_of(*items: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """The accepted record of an envelope carrying ``(item type, payload)`` items."""
    body = make_envelope({"event_id": EVENT_ID}, [({"type": kind}, payload) for kind, payload in items])
    return make_record(make_request(body=body))


def section(records: list[dict[str, Any]]) -> dict[str, Any]:
    return report.build_report(records, ["normalization"]).to_json()["normalization"]


def only_row(records: list[dict[str, Any]]) -> dict[str, Any]:
    (row,) = section(records)["rows"]
    return row


def event(**fields: Any) -> dict[str, Any]:
    return make_event(timestamp=JUST_BEFORE, **fields)


def entries(row: dict[str, Any], table: str, *keys: str) -> set[tuple[Any, ...]]:
    return {tuple(entry[key] for key in keys) for entry in row[table]}


# ---------------------------------------------------------------- real SDK events


def sample_records() -> list[dict[str, Any]]:
    return [r.data for path in SAMPLES for r in iter_records([path])]


def test_real_sdk_samples_are_stored_with_relays_renames_and_scrubbing() -> None:
    data = section(sample_records())
    assert (34, 34, 0, 0) == (data["events"], data["stored"], data["rejected"], data["failures"])
    rows = {(row["sdk"], row["item_type"]): row for row in data["rows"]}
    assert {("sentry.python", "event"), ("sentry.python", "transaction"), ("sentry.javascript.node", "event"),
            ("sentry.javascript.browser", "event")} == set(rows)  # fmt: skip
    python = rows["sentry.python", "event"]
    assert {("server_name", "tags.server_name"), ("message", "logentry.formatted")} <= entries(
        python, "renamed", "from", "to"
    )
    # the sample's card numbers in frame variables: filtered by Sentry's default scrubbing
    assert ("exception.values[].stacktrace.frames[].vars.card", "@creditcard:filter") in entries(
        python, "scrubbed", "path", "rule"
    )
    assert {"logger", "type", "contexts.trace.status"} <= {entry["path"] for entry in python["defaulted"]}
    transaction = rows["sentry.python", "transaction"]
    assert ("spans[].same_process_as_parent", 4) in entries(transaction, "removed", "path", "count")
    assert ("level", 4) in entries(transaction, "defaulted", "path", "count")  # transactions get level info
    browser = rows["sentry.javascript.browser", "event"]
    assert "request.url" in {entry["path"] for entry in browser["rewritten"]}  # the query string split off
    assert "request.query_string" in {entry["path"] for entry in browser["defaulted"]}
    for row in data["rows"]:
        assert row["size_before"]["count"] == row["size_after"]["count"] == row["stored"]
        assert [] == row["trimmed"] == row["invalid"] and {} == row["rejected"] == row["failures"]


async def test_a_fresh_capture_from_the_real_sentry_sdk(mirror: Any) -> None:
    sentry_sdk.init(mirror.dsn(), default_integrations=False, auto_session_tracking=False, traces_sample_rate=1.0,
                    server_name="web-1", max_value_length=100_000)  # fmt: skip
    client = sentry_sdk.get_client()
    try:
        sentry_sdk.set_user({"id": "42", "email": "jane@example.com"})
        sentry_sdk.set_extra("payload", "p" * 20_000)
        sentry_sdk.set_extra("password", "hunter2")  # scrubbed by the SDK itself (its _meta says !config)
        sentry_sdk.set_extra("note", "card 4111 1111 1111 1111")
        sentry_sdk.capture_message("checkout failed " + "x" * 12_000)
        with sentry_sdk.start_transaction(name="GET /checkout", op="http.server"):
            pass
        await asyncio.to_thread(client.close, 10)
    finally:
        sentry_sdk.init()
    data = section([r.data for r in mirror.records()])
    rows = {row["item_type"]: row for row in data["rows"]}
    assert {"event", "transaction"} <= set(rows) and 0 == data["rejected"] == data["failures"]
    sent = rows["event"]
    assert "sentry.python" == sent["sdk"] and 1 == sent["changed"]
    trimmed = {entry["path"]: entry for entry in sent["trimmed"]}
    assert {"logentry.formatted", "extra.payload"} <= set(trimmed)
    assert ("chars", 20_000 - 16_384) == (trimmed["extra.payload"]["unit"], trimmed["extra.payload"]["cut"])
    assert {("extra.note", "@creditcard:filter")} == entries(sent, "scrubbed", "path", "rule")
    assert sent["size_after"]["max"] < sent["size_before"]["max"]


# ---------------------------------------------------------------- events built to be changed


def test_oversized_strings_are_trimmed_by_relays_limits() -> None:
    row = only_row(
        [
            record_of(
                (
                    "event",
                    event(
                        message="m" * 20_000, extra={"blob": "b" * 5_000} | {f"k{i}": "v" * 5_000 for i in range(99)}
                    ),
                )
            )
        ]
    )
    trimmed = {(entry["path"], entry["unit"]): entry for entry in row["trimmed"]}
    message = trimmed["logentry.formatted", "chars"]
    assert (1, 20_000 - 8_192, 20_000 - 8_192) == (message["count"], message["cut"], message["bytes"])
    assert trimmed["extra", "items"]["cut"] > 0  # extra over its byte budget: later keys dropped
    assert ("message", "logentry.formatted") in entries(row, "renamed", "from", "to")
    assert 1 == row["changed"] and 1 == row["events_with"]["trimmed"]


def test_invalid_values_are_reported_with_relays_reasons() -> None:
    sent = event(level="catastrophic", event_id="not-an-id", platform="cobol", foo=1, user={"ip_address": "nope"})
    row = only_row([record_of(("event", sent))])
    assert {
        ("level", "invalid_data", "invalid level", "replaced"),
        ("event_id", "invalid_data", "invalid character: found `n` at 0", "replaced"),
        ("foo", "invalid_attribute", "", "dropped"),
        ("user.ip_address", "invalid_data", "expected an ip address", "dropped"),
    } <= entries(row, "invalid", "path", "error", "reason", "action")
    assert ("platform", 1) in entries(row, "replaced", "path", "count")  # cobol is stored as "other"


def test_timestamps_out_of_range_are_replaced_not_rejected() -> None:
    records = [
        record_of(("event", make_event(timestamp="2020-01-01T00:00:00Z"))),
        record_of(("event", make_event(timestamp="2030-01-01T00:00:00Z"))),
        record_of(("event", make_event(timestamp="yesterday"))),
    ]
    row = only_row(records)
    assert (3, 3, 0) == (row["events"], row["stored"], sum(row["rejected"].values()))
    assert {("timestamp", "past_timestamp", "", "replaced"), ("timestamp", "future_timestamp", "", "replaced"),
            ("timestamp", "invalid_data", "input contains invalid characters", "replaced")} == entries(
        row, "invalid", "path", "error", "reason", "action")  # fmt: skip


def test_nesting_past_serde_depth_is_rejected_and_databags_past_theirs_are_trimmed() -> None:
    deep: Any = 1
    for _ in range(200):
        deep = {"a": deep}
    shallow: Any = 1
    for _ in range(10):
        shallow = {"a": shallow}
    rejected = only_row([record_of(("event", event(extra={"deep": deep})))])
    assert {"invalid JSON: recursion limit exceeded": 1} == rejected["rejected"]
    assert (1, 0, 0) == (rejected["events"], rejected["stored"], rejected["size_after"]["count"])
    trimmed = only_row([record_of(("event", event(extra={"deep": shallow})))])
    assert ("depth", 1) in {(entry["unit"], entry["count"]) for entry in trimmed["trimmed"]}


def test_transactions_relay_refuses_are_rejected_with_its_reason() -> None:
    common = {"transaction": "/", "contexts": TRACE, "timestamp": 1795424399.0}
    records = [
        record_of(("transaction", {**common, "start_timestamp": 1795424398.0})),
        record_of(("transaction", {"transaction": "/", "contexts": TRACE, "timestamp": 1795424399.0})),
        record_of(("transaction", {**common, "start_timestamp": 1795424400.0})),
        record_of(("transaction", {**common, "start_timestamp": 1795424398.0, "contexts": {}})),
    ]
    row = only_row(records)
    assert {
        "invalid transaction event: start_timestamp hard-required for transaction events": 1,
        "invalid transaction event: end timestamp is smaller than start timestamp": 1,
        "invalid transaction event: missing valid trace context": 1,
    } == row["rejected"]
    assert (4, 1) == (row["events"], row["stored"])


def test_frames_and_breadcrumbs() -> None:
    frames = [{"function": f"f{i}", "filename": "a.py", "lineno": i} for i in range(400)]
    crumbs = [{"message": "m" * 10_000, "timestamp": 1795424399.0}]
    row = only_row(
        [
            record_of(
                (
                    "event",
                    event(
                        exception={"values": [{"type": "E", "value": "v", "stacktrace": {"frames": frames}}]},
                        breadcrumbs=crumbs,
                    ),
                )
            )
        ]
    )
    trimmed = {entry["path"]: entry for entry in row["trimmed"]}
    assert ("items", 150) == (
        trimmed["exception.values[].stacktrace.frames"]["unit"],
        trimmed["exception.values[].stacktrace.frames"]["cut"],
    )
    assert ("chars", 10_000 - 8_192) == (
        trimmed["breadcrumbs.values[].message"]["unit"],
        trimmed["breadcrumbs.values[].message"]["cut"],
    )


def test_an_event_items_type_is_inferred_and_feedback_is_feedback() -> None:
    stored = relay_normalize.normalize(make_event(type="transaction"), "event", RECEIVED)
    assert stored.event is not None and "error" == stored.event["type"]
    feedback = {"event_id": EVENT_ID, "timestamp": JUST_BEFORE, "contexts": {"feedback": {"message": "nice"}}}
    stored = relay_normalize.normalize(feedback, "feedback", RECEIVED)
    assert stored.event is not None and "feedback" == stored.event["type"]


def test_an_unreadable_receive_time_is_judged_at_the_present() -> None:
    stored = relay_normalize.normalize(make_event(timestamp=1.0), "event", "not a time")
    assert stored.event is not None and "past_timestamp" == stored.event["_meta"]["timestamp"][""]["err"][0][0]


def test_relay_failures_are_counted_never_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    import sentry_relay

    class Broken:
        def __init__(self, **config: Any) -> None:
            pass

        def normalize_event(self, event: dict[str, Any]) -> None:
            raise sentry_relay.exceptions.Panic("relay panicked\nstacktrace: …")

    monkeypatch.setattr(sentry_relay, "StoreNormalizer", Broken)
    row = only_row([record_of(("event", event()))])
    assert {"Panic: relay panicked": 1} == row["failures"] and 0 == row["stored"]


def test_without_sentry_relay_the_section_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sentry_mirror.core.pii.relay_available", lambda: False)
    with pytest.raises(MirrorError, match="pip install sentry-relay"):
        ReportBuilder(sections=["normalization"])
    assert "normalization" not in report.build_report([record_of(("event", event()))]).to_json()["sections"]


def test_changes_of_leaves_the_payload_as_sent() -> None:
    sent = event(tags=[["a", "b"]], breadcrumbs=[{"message": "x", "timestamp": 1.0}])
    kept = copy.deepcopy(sent)
    stored = relay_normalize.normalize(sent, "event", RECEIVED).event
    assert stored is not None and sent == kept
    changes = changes_of(sent, stored)
    assert not changes.removed and "breadcrumbs.values[].type" in changes.defaulted  # bare lists read as values
    assert "exception.values[].type" == display(("exception", "values", 0, "type"))


def changes(sent: dict[str, Any]) -> Any:
    stored = relay_normalize.normalize(sent, "event", RECEIVED).event
    assert stored is not None
    return changes_of(sent, stored)


def test_a_tag_name_relay_drops_is_one_invalid_entry_under_its_name() -> None:
    found = changes(event(tags={"a|b": "v", "ok": "w"}))  # stored as [[null, "v"], ["ok", "w"]]
    assert [("tags.a|b", "invalid_data", "invalid character '|'", "dropped")] == found.invalid
    assert ([], [], []) == (found.renamed, found.removed, found.rewritten)
    assert not [path for path in found.defaulted if path.startswith("tags")]


def test_an_empty_tag_name_is_a_name() -> None:
    found = changes(event(tags=[["", "v"], ["ok", "w"]]))  # Relay keeps no original for an empty name
    assert [("tags[]", "invalid_data", "expected a non-empty value", "dropped")] == found.invalid
    assert ["tags."] == found.removed  # the tag sent under "" is not stored


def test_a_repeated_tag_name_keeps_its_first_value() -> None:
    found = changes(event(tags=[["a", "b"], ["a", "c"], ["z", "y"]]))  # Relay keeps ["a", "b"]
    assert (["tags.a#2"], []) == (found.removed, found.rewritten)
    headers = changes(event(request={"headers": [["X-A", "1"], ["X-A", "2"]]}))  # kept, both
    assert not [path for path in (*headers.removed, *headers.rewritten) if path.startswith("request.headers")]


def test_a_trimmed_tag_name_is_reported_once_as_trimmed() -> None:
    found = changes(event(tags={"k" * 300: "v", "ok": "w"}))
    ((path, unit, cut, _),) = found.trimmed
    assert (f"tags.{'k' * 197}...", "chars", 100) == (path, unit, cut)
    assert ([], []) == (found.removed, found.renamed)


def test_a_lone_surrogate_is_stored_as_a_question_mark() -> None:
    found = changes(event(message="a\ud800b"))  # stored as logentry.formatted "a?b"
    assert ("message", "logentry.formatted") in found.renamed and "message" not in found.removed
    assert "logentry.formatted" in found.rewritten


# ---------------------------------------------------------------- merging


def fed(records: list[dict[str, Any]]) -> ReportBuilder:
    builder = ReportBuilder(sections=["normalization"])
    for data in records:
        builder.add(data)
    return builder


def built_records() -> list[dict[str, Any]]:
    return [
        record_of(("event", event(message="m" * 9_000))),
        record_of(("event", event(level="bad"))),
        record_of(("transaction", {"transaction": "/", "contexts": TRACE, "timestamp": 1795424399.0})),
    ]


def test_merged_parts_give_the_whole() -> None:
    records = sample_records()[:12] + built_records() + sample_records()[-6:]
    whole = fed(records).build(["normalization"]).to_json()
    for cut in range(1, len(records)):
        first = fed(records[:cut])
        first.merge(fed(records[cut:]))
        assert whole == first.build(["normalization"]).to_json(), cut


def test_merged_parts_past_the_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(normalization, "MAX_ROWS", 1)
    monkeypatch.setattr(normalization, "MAX_PATHS", 3)
    records = sample_records()
    whole = fed(records).build(["normalization"]).to_json()["normalization"]
    assert ["sentry.javascript.browser", "(other)"] == [row["sdk"] for row in whole["rows"]]
    assert "defaulted" in whole["rows"][0]["truncated"] and len(whole["rows"][0]["defaulted"]) == 3
    for cut in (1, len(records) // 2, len(records) - 1):
        first = fed(records[:cut])
        first.merge(fed(records[cut:]))
        parts = first.build(["normalization"]).to_json()["normalization"]
        assert [r["events"] for r in whole["rows"]] == [r["events"] for r in parts["rows"]], cut
        assert whole["events"] == parts["events"] and whole["changed"] == parts["changed"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
FIELDS = st.sampled_from(["timestamp", "level", "event_id", "platform", "tags", "extra", "exception", "breadcrumbs",
                          "contexts", "request", "user", "spans", "start_timestamp", "_meta", "message", "type"])  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=st.dictionaries(FIELDS | st.text(max_size=8), JSON, max_size=8),
       item_type=st.sampled_from(sorted(relay_normalize.EVENT_TYPES)))  # fmt: skip
def test_any_payload_is_counted_never_raised(payload: dict[str, Any], item_type: str) -> None:
    row = normalization.Row()
    row.add(payload, item_type, RECEIVED)
    row_json = row.to_json(normalization.row_key("sdk\x00", item_type))
    assert ("sdk\x00", item_type) == (row_json["sdk"], row_json["item_type"])
    assert 1 == row.stored + sum(row.rejected.values()) + sum(row.failures.values())
    assert row_json["size_after"]["count"] == row.stored
