"""The ``upstream`` section: what the upstream and the candidates answered, from answer
records only (core/report/upstream.py, core/report/pairing.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentry_mirror.core import answer, report
from sentry_mirror.core.report import RecordView, pairing, upstream
from tests.factories import T0, make_answer, make_record, sample_records

CANDIDATE = "http://candidate.local:8000/3"
DROPPING = "https://dropping.example.com/7"


def forwarded() -> list[dict[str, Any]]:
    """The sample's 13 requests, each followed by its answers: the upstream answered 200 (3:
    429 with rate limits, 5: a timeout), the candidate 200 (2 and 7: 500), and the second
    candidate dropped every fourth copy (its queue was full)."""
    records: list[dict[str, Any]] = []
    for n, request in enumerate(sample_records("python")):
        records.append(request)
        status = {3: 429, 5: None}.get(n, 200)
        headers = [("X-Sentry-Rate-Limits", "60:transaction:organization, 5::key"), ("Retry-After", "60")]
        records.append(
            make_answer(
                request,
                status=status,
                headers=headers if status == 429 else [],
                latency_ms=float(n + 1),
                error="timeout" if status is None else None,
                returned=status is not None,
            )
        )
        records.append(
            make_answer(
                request,
                target="candidate",
                to=CANDIDATE,
                status=500 if n in (2, 7) else 200,
                latency_ms=100.0 + n,
                returned=False,
            )
        )
        if n % 4 == 0:
            records.append(
                make_answer(
                    request,
                    target="candidate",
                    to=DROPPING,
                    status=None,
                    error="queue full",
                    dropped=True,
                    latency_ms=None,
                    returned=False,
                )
            )
    return records


def section(records: list[dict[str, Any]]) -> dict[str, Any]:
    built = report.build_report(records).to_json()
    assert orjson.loads(orjson.dumps(built)) == built
    return dict(built["upstream"])


def by_to(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["to"]: t for t in data["targets"]}


def test_per_target_answers_statuses_latency_and_rate_limits() -> None:
    data = section(forwarded())
    assert 30 == data["answers"]
    assert ["upstream", "candidate", "candidate"] == [t["target"] for t in data["targets"]]
    up, candidate, dropping = (by_to(data)[to] for to in ("http://127.0.0.1:9000/1", CANDIDATE, DROPPING))
    assert (13, 12, 1, 0, 12) == (up["answers"], up["delivered"], up["undelivered"], up["dropped"], up["returned"])
    assert {"200": 11, "429": 1, "no answer": 1} == up["by_status"] and {"timeout": 1} == up["errors"]
    assert {"count": 13, "p50": 7, "p95": 12.4, "p99": 12.88, "max": 13} == up["latency_ms"]
    assert 1 == up["rate_limited"] and {"answers": 1, "max_s": 60} == up["retry_after"]
    assert {"(all)": {"answers": 1, "max_s": 5}, "transaction": {"answers": 1, "max_s": 60}} == up["rate_limits"]
    assert (13, 11, 2, {"200": 11, "500": 2}) == (
        candidate["answers"],
        candidate["delivered"],
        candidate["undelivered"],
        candidate["by_status"],
    )
    assert (4, 0, 0, 4, {"dropped": 4}) == (
        dropping["answers"],
        dropping["delivered"],
        dropping["undelivered"],
        dropping["dropped"],
        dropping["by_status"],
    )
    assert 0 == dropping["latency_ms"]["count"] and None is dropping["retry_after"] and [] == data["truncated"]


def test_per_endpoint_and_item_types() -> None:
    rows = {(r["items"], r["to"]): r for r in section(forwarded())["by_endpoint"]}
    assert {"envelope"} == {r["endpoint"] for r in rows.values()}
    event_up = rows[("event", "http://127.0.0.1:9000/1")]
    assert ("envelope", 9, 8, {"2xx": 8, "none": 1}) == (
        event_up["endpoint"],
        event_up["answers"],
        event_up["delivered"],
        event_up["by_class"],
    )
    transaction = rows[("transaction", "http://127.0.0.1:9000/1")]
    assert ({"429": 1}, {"4xx": 1}) == (transaction["by_status"], transaction["by_class"])
    assert {"200": 8, "no answer": 1} == event_up["by_status"]
    assert {"2xx": 7, "5xx": 2} == rows[("event", CANDIDATE)]["by_class"]
    assert {"dropped": 3} == rows[("event", DROPPING)]["by_class"]


def test_requests_delivered_or_not_and_disagreements_with_examples() -> None:
    data = section(forwarded())
    assert {
        "answered": 13,
        "forwarded": 13,
        "not_delivered": 1,
        "delivered_later": 0,
        "still_undelivered": 1,
        "no_upstream_answer": 0,
    } == data["requests"]
    disagreements = data["disagreements"]
    assert (13, 4) == (disagreements["compared"], disagreements["requests"])
    assert [{"to": CANDIDATE, "compared": 13, "agree": 9, "upstream_only": 2, "candidate_only": 2, "class": 0}] == (
        disagreements["by_candidate"]
    )  # the dropped copies are not compared
    first = disagreements["examples"][0]
    request = sample_records("python")[2]
    assert (request["id"], "envelope", "event") == (first["request_id"], first["endpoint"], first["items"])
    assert [("upstream", 200, None), ("candidate", 500, None)] == [
        (a["target"], a["status"], a["error"]) for a in first["answers"]
    ]
    timeout = disagreements["examples"][2]["answers"][0]
    assert (None, "timeout") == (timeout["status"], timeout["error"])


def test_a_status_class_disagreement_is_not_an_acceptance_one() -> None:
    request = make_record(id="1" * 32)
    data = section(
        [make_answer(request, status=400), make_answer(request, target="candidate", to=CANDIDATE, status=503)]
    )
    verdicts = data["disagreements"]["by_candidate"][0]
    assert (1, 0, 0, 0) == (verdicts["class"], verdicts["upstream_only"], verdicts["candidate_only"], verdicts["agree"])
    same = section(
        [make_answer(request, status=413), make_answer(request, target="candidate", to=CANDIDATE, status=400)]
    )
    assert 0 == same["disagreements"]["requests"] and [] == same["disagreements"]["examples"]


def test_undelivered_then_delivered_by_replay_and_requests_without_an_upstream_answer() -> None:
    failed, alone = make_record(id="1" * 32), make_record(id="2" * 32)
    records = [
        make_answer(failed, status=502, latency_ms=10.0),
        make_answer(alone, target="candidate", to=CANDIDATE),
        make_answer(failed, via="replay", answered_at=T0 + timedelta(days=1)),
    ]
    data = section(records)
    assert {
        "answered": 2,
        "forwarded": 1,
        "not_delivered": 1,
        "delivered_later": 1,
        "still_undelivered": 0,
        "no_upstream_answer": 1,
    } == data["requests"]
    up = by_to(data)["http://127.0.0.1:9000/1"]
    assert (2, 1, 1, 1) == (up["answers"], up["delivered"], up["undelivered"], up["via_replay"])
    assert 0 == data["disagreements"]["compared"]


def test_request_records_never_feed_it_and_answers_feed_nothing_else() -> None:
    requests = sample_records("python")
    alone = report.build_report(requests).to_json()
    assert "upstream" not in alone["sections"] and list(report.SECTIONS) == alone["sections"]
    both = report.build_report(forwarded()).to_json()
    assert [*report.SECTIONS, "upstream"] == both["sections"]
    assert {k: v for k, v in both.items() if k not in ("upstream", "sections")} == {
        k: v for k, v in alone.items() if k != "sections"
    }
    builder = report.ReportBuilder()
    for data in requests:
        builder.add(data)
    assert 0 == builder.upstream.count and not builder.upstream.pairing.pending
    only = report.build_report(forwarded(), ["upstream"]).to_json()
    assert ["upstream"] == only["sections"]
    section = upstream.Upstream()  # as an Aggregator: a view of an answer record
    section.add(RecordView(make_answer()))
    assert 1 == section.result()["answers"] == section.result()["requests"]["answered"]


def test_answers_further_apart_than_the_window_are_counted_unpaired(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pairing, "MAX_PENDING", 2)
    first, *others = [make_record(id=f"{n:032x}") for n in range(1, 6)]
    records = [make_answer(first)] + [make_answer(r) for r in others[:2]]  # first settled: the window holds 2
    records.append(make_answer(first, target="candidate", to=CANDIDATE, status=500))  # late: unpaired
    records += [make_answer(r) for r in others[2:]]  # settle more: first leaves the settled ids too
    records.append(make_answer(first, target="candidate", to=CANDIDATE, status=500))  # a request of its own
    data = section(records)
    assert 1 == data["pairing"]["unpaired"] and 2 == data["pairing"]["window"]
    assert (6, 5, 1) == (
        data["requests"]["answered"],
        data["requests"]["forwarded"],
        data["requests"]["no_upstream_answer"],
    )
    assert 0 == data["disagreements"]["requests"]  # never joined with the upstream's 200
    assert 2 == by_to(data)[CANDIDATE]["answers"]


def test_bounded_tables_say_they_were_truncated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream, "MAX_TARGETS", 2)
    request = make_record()
    data = section([make_answer(request, target="candidate", to=f"http://c{n}/1") for n in range(4)])
    assert ["http://c0/1", "http://c1/1", ""] == [t["to"] for t in data["targets"]][-3:]
    assert "(other)" == data["targets"][-1]["target"] and 2 == data["targets"][-1]["answers"]
    assert ["targets"] == data["truncated"]


def test_examples_are_bounded() -> None:
    records = []
    for n in range(pairing.MAX_EXAMPLES + 5):
        request = make_record(id=f"{n:032x}")
        records += [make_answer(request), make_answer(request, target="candidate", to=CANDIDATE, status=500)]
    data = section(records)["disagreements"]
    assert (pairing.MAX_EXAMPLES + 5, pairing.MAX_EXAMPLES) == (data["requests"], len(data["examples"]))
    assert f"{0:032x}" == data["examples"][0]["request_id"]


# ---------------------------------------------------------------- merging


def merged_at(records: list[dict[str, Any]], cut: int) -> dict[str, Any]:
    first, second = report.ReportBuilder(), report.ReportBuilder()
    for data in records[:cut]:
        first.add(data)
    for data in records[cut:]:
        second.add(data)
    first.merge(second)
    return dict(first.build(["upstream"]).to_json()["upstream"])


def test_merged_parts_give_the_whole_at_any_split() -> None:
    records = forwarded()
    later = make_record(id="f" * 32)  # an undelivered request delivered by a replay, and one late candidate
    records += [
        make_answer(later, status=None, error="connection refused"),
        make_answer(later, via="replay", answered_at=T0 + timedelta(hours=1)),
    ]
    whole = report.build_report(records, ["upstream"]).to_json()["upstream"]
    assert whole["disagreements"]["requests"] and whole["requests"]["delivered_later"]
    for cut in range(len(records) + 1):
        assert whole == merged_at(records, cut), cut


def test_merged_parts_past_the_window_count_what_they_could_not_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the pairing window the parts settle apart: every answer still counts for its
    target, each request at least once."""
    monkeypatch.setattr(pairing, "MAX_PENDING", 3)
    records = [r for r in forwarded() if answer.is_answer(r)]
    whole = report.build_report(records, ["upstream"]).to_json()["upstream"]
    for cut in range(len(records) + 1):
        parts = merged_at(records, cut)
        assert whole["targets"] == parts["targets"] and whole["by_endpoint"] == parts["by_endpoint"]
        assert parts["requests"]["answered"] >= 13


# ---------------------------------------------------------------- hostile values


_TEXT = st.text(max_size=30)
_HEADER = st.tuples(
    st.sampled_from(["X-Sentry-Rate-Limits", "retry-after", "RETRY-AFTER", "x-other"]) | _TEXT,
    st.sampled_from(["60:transaction:organization", "x:y:z", ":::", "-1::", "1e400:a;b", "nan:c", "", "Wed, 21 Oct"])
    | _TEXT,
)
_ANSWER = st.fixed_dictionaries(
    {
        "request_id": st.sampled_from(["a" * 32, "b" * 32, "", "\x00"]) | _TEXT,
        "target": st.sampled_from(answer.TARGETS),
        "to": st.sampled_from(["", "(other)", "http://x/1", "a\x00b"]) | _TEXT,
        "endpoint": st.sampled_from(["envelope", "", "(other)", "e\x00"]) | _TEXT,
        "item_types": st.lists(_TEXT | st.sampled_from(["event", ""]), max_size=4),
        "status": st.none() | st.integers(min_value=-(2**63), max_value=2**63),
        "headers": st.lists(_HEADER, max_size=4),
        "latency_ms": st.none()
        | st.integers(min_value=-(2**63), max_value=2**63)
        | st.floats(allow_nan=False, allow_infinity=False),
        "error": st.none() | _TEXT,
        "returned": st.booleans(),
        "dropped": st.booleans(),
        "via": st.sampled_from(answer.VIAS),
    }
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_ANSWER, min_size=1, max_size=8), st.integers(min_value=0, max_value=8))
def test_odd_but_valid_answers_never_raise(fields: list[dict[str, Any]], cut: int) -> None:
    records = []
    for values in fields:
        data = answer.build(answered_at=T0, **values)
        if isinstance(values["latency_ms"], int):
            data["latency_ms"] = values["latency_ms"]  # as read back from JSON: any integer
        assert answer.problem(data) is None
        records.append(data)
    built = report.build_report(records, ["upstream"])
    assert 0 == built.malformed["records"]
    data = built.to_json()["upstream"]
    assert orjson.loads(orjson.dumps(data)) == data
    assert len(records) == data["answers"] == sum(t["answers"] for t in data["targets"])
    assert data == merged_at(records, min(cut, len(records)))
