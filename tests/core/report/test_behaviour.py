"""The ``behaviour`` section: what each SDK did around the scripted answers, judged against
the SDK development spec (core/report/behaviour*.py). The timelines mirror what
docs/sdk-failure-behaviour.md measured of sentry-python and @sentry/node."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentry_mirror.core import report
from sentry_mirror.core.report import RecordView, behaviour_timeline
from sentry_mirror.core.report.behaviour import Behaviour, failed
from sentry_mirror.core.report.builder import ReportBuilder
from tests.factories import T0, make_client_report, make_record, make_scripted, make_sdk_record

NODE = ("sentry.javascript.node", "11.12.0")
TRANSACTIONS_2S = [("X-Sentry-Rate-Limits", "2:transaction:organization:quota_exceeded"), ("Retry-After", "2")]
RETRY_2S = [("Retry-After", "2")]


def ids(n: int) -> str:
    return f"{n:032x}"


def limited(
    at: float, kinds: tuple[str, ...] = ("transaction",), headers: Any = TRANSACTIONS_2S, **kw: Any
) -> dict[str, Any]:
    """A request answered 429 by a scripted rule."""
    scripted = make_scripted(kw.pop("rule", "rate-limit-transactions"), delay_ms=kw.pop("delay_ms", 0))
    return make_sdk_record(
        kinds, at=at, event_id=ids(int(at * 1000) + 1), status=429, headers=headers, scripted=scripted, **kw
    )


def sent(at: float, kinds: tuple[str, ...] = ("event",), **kw: Any) -> dict[str, Any]:
    """A request the mirror accepted (its natural answer)."""
    return make_sdk_record(kinds, at=at, event_id=kw.pop("event_id", ids(int(at * 1000) + 1)), **kw)


def reported(at: float, *rows: tuple[str, str, int], **kw: Any) -> dict[str, Any]:
    return make_sdk_record((make_client_report(*rows),), at=at, **kw)


def section(records: list[dict[str, Any]]) -> dict[str, Any]:
    return report.build_report(records, ["behaviour"]).to_json()["behaviour"]


def verdicts(records: list[dict[str, Any]], sdk: int = 0) -> dict[str, str]:
    return {v["check"]: v["status"] for v in section(records)["sdks"][sdk]["verdicts"]}


def detail(records: list[dict[str, Any]], check: str) -> str:
    return next(v["detail"] for v in section(records)["sdks"][0]["verdicts"] if v["check"] == check)


def python_transaction_limit() -> list[dict[str, Any]]:
    """sentry-python 2.75.0 under ``2:transaction:organization``: the transaction in hand is
    429'd, errors go at once, transactions are held 2 s, then sent; the client report says
    ratelimit_backoff transaction 1, span 2."""
    return [
        sent(0.0),
        limited(0.1),
        sent(0.3),
        reported(0.35, ("ratelimit_backoff", "transaction", 1), ("ratelimit_backoff", "span", 2)),
        sent(2.8),
        sent(2.9, ("transaction",)),
    ]


def test_python_under_a_transaction_limit_passes_every_rate_limit_check() -> None:
    result = verdicts(python_transaction_limit())
    assert result == {
        "backoff": "pass",
        "scope": "pass",
        "resume": "pass",
        "retry_after": "not_seen",
        "server_error": "not_seen",
        "too_large": "not_seen",
        "client_error": "not_seen",
        "client_reports": "pass",
    }
    data = section(python_transaction_limit())
    row = data["sdks"][0]
    assert (row["sdk"], row["version"], row["requests"], row["scripted"]) == ("sentry.python", "2.75.0", 6, 1)
    assert row["client_reports"] == [
        {"reason": "ratelimit_backoff", "category": "span", "quantity": 2},
        {"reason": "ratelimit_backoff", "category": "transaction", "quantity": 1},
    ]
    assert row["rules"] == {"rate-limit-transactions": 1} and row["scripted_answers"] == {"429": 1}
    assert "none arrived until 2.8 s after the 429" in detail(python_transaction_limit(), "backoff")
    assert not failed(data)


def test_an_sdk_ignoring_the_limit_fails_backoff() -> None:
    records = [*python_transaction_limit()[:3], sent(1.0, ("transaction",)), sent(2.9, ("transaction",))]
    assert verdicts(records)["backoff"] == "fail"
    assert "the first, transaction, 0.9 s after a 429 limiting it for 2 s" in detail(records, "backoff")
    again = [*records[:3], limited(1.0, headers=[("X-Sentry-Rate-Limits", "1:transaction:organization")])]
    assert "2 answer(s) (429) limited transaction for up to 2 s" in detail(again, "backoff")
    assert failed(section(records))


def test_a_request_in_flight_when_the_limit_went_out_is_not_a_violation() -> None:
    records = [limited(0.0), sent(0.15, ("transaction",)), sent(2.5, ("transaction",))]
    assert verdicts(records)["backoff"] == "pass"
    late = [limited(0.0), sent(0.25, ("transaction",)), sent(2.5, ("transaction",))]
    assert verdicts(late)["backoff"] == "fail"


def test_the_limit_counts_from_when_a_delayed_answer_went_out() -> None:
    records = [limited(0.0, delay_ms=1000), sent(1.1, ("transaction",)), sent(3.5, ("transaction",))]
    assert verdicts(records)["backoff"] == "pass"
    assert verdicts([limited(0.0, delay_ms=1000), sent(2.5, ("transaction",))])["backoff"] == "fail"


def test_a_limit_on_a_200_counts_too() -> None:
    """Relay since relay#5840: a partly limited envelope gets 200 and the header."""
    partial = make_sdk_record(
        ("event", "transaction"), at=0.0, event_id=ids(1), status=200, headers=TRANSACTIONS_2S,
        scripted=make_scripted(partial=True),
    )  # fmt: skip
    assert verdicts([partial, sent(1.0, ("transaction",))])["backoff"] == "fail"
    assert verdicts([partial, sent(1.0), sent(2.5, ("transaction",))])["backoff"] == "pass"


def test_no_evidence_is_not_seen_never_pass() -> None:
    """sentry-python under a 429 without headers: every category held back 60 s, past the
    run's end; no client report gets out."""
    records = [limited(0.0, ("event",), headers=[], rule="rate-limit-all")]
    result = verdicts(records)
    assert result["backoff"] == "not_seen" and result["resume"] == "not_seen"
    assert result["client_reports"] == "not_seen"
    assert "ended 59.9 s before the limit on every category did" in detail(
        [*records, sent(0.1, ("session",))], "resume"
    )


def test_python_under_retry_after_holds_everything() -> None:
    """429 with Retry-After 2 and no rate-limit header: every category held 2 s."""
    records = [limited(0.0, ("event",), headers=RETRY_2S), sent(2.6), sent(2.7, ("transaction",))]
    result = verdicts(records)
    assert result["backoff"] == "pass" and result["retry_after"] == "pass" and result["resume"] == "pass"
    assert result["scope"] == "not_seen"  # every category was limited
    ignoring = [limited(0.0, ("event",), headers=RETRY_2S), sent(1.0), sent(2.7, ("transaction",))]
    assert verdicts(ignoring)["retry_after"] == "fail"


def test_retry_after_on_a_503_is_told_not_judged() -> None:
    """@sentry/node honours Retry-After on a 503, sentry-python does not: both allowed."""
    outage = make_scripted("outage", natural=200)
    for later in (0.5, 2.5):
        records = [
            make_sdk_record(("event",), at=0.0, event_id=ids(1), status=503, headers=RETRY_2S, scripted=outage),
            sent(later),
        ]
        assert verdicts(records)["retry_after"] == "info"
    assert "held back 2 s after a 503" in detail(records, "retry_after")


def python_outage() -> list[dict[str, Any]]:
    """sentry-python under a 503: the event is dropped, never resent; later events go at
    once; the next flush reports network_error/error 1."""
    outage = make_scripted("outage", natural=200)
    return [
        make_sdk_record(("event",), at=0.0, event_id=ids(1), status=503, scripted=outage),
        sent(0.1),
        reported(0.2, ("network_error", "error", 1)),
        sent(2.6),
    ]


def test_python_under_an_outage_drops_and_reports_network_error() -> None:
    result = verdicts(python_outage())
    assert result["server_error"] == "pass" and result["client_reports"] == "pass"
    assert "the counts add up" in detail(python_outage(), "client_reports")
    assert section(python_outage())["sdks"][0]["retries"]["retried"] == 0


def test_node_under_an_outage_sends_no_report_at_all_so_it_fails() -> None:
    """@sentry/node 11.12.0 goes on sending after a 503 and never reports the 503'd event."""
    outage = make_scripted("outage")
    records = [
        make_sdk_record(("event",), at=0.0, event_id=ids(1), status=503, sdk=NODE, scripted=outage),
        sent(0.1, sdk=NODE),
    ]
    assert verdicts(records)["client_reports"] == "fail"
    assert "the spec asks for send_error" in detail(records, "client_reports")
    assert failed(section(records))


def test_no_report_is_not_seen_when_the_traffic_ends_with_the_refusal() -> None:
    records = [
        make_sdk_record(("event",), at=0.0, event_id=ids(1), status=503, sdk=NODE, scripted=make_scripted("outage"))
    ]
    assert verdicts(records)["client_reports"] == "not_seen"
    assert not failed(section(records))


def test_node_under_a_503_with_retry_after_misses_send_error() -> None:
    """@sentry/node 11.12.0 holds everything back 2 s after a 503 with Retry-After and reports
    what it held as ratelimit_backoff, but never the 503'd event itself: the client reports
    spec (1.19.0) asks for send_error on any 5xx."""
    records = [
        make_sdk_record(("event",), at=0.0, event_id=ids(1), status=503, headers=RETRY_2S, sdk=NODE,
                        scripted=make_scripted("outage")),
        reported(2.5, ("ratelimit_backoff", "error", 1), ("ratelimit_backoff", "transaction", 1), sdk=NODE),
        sent(2.6, sdk=NODE),
    ]  # fmt: skip
    result = verdicts(records)
    assert result["client_reports"] == "fail" and result["retry_after"] == "info"
    assert "names error 1 as send_error or network_error" in detail(records, "client_reports")


def test_any_refusal_but_429_is_expected_as_send_error() -> None:
    forbidden = make_scripted("forbidden")
    records = [
        make_sdk_record(("event",), at=0.0, event_id=ids(1), status=403, scripted=forbidden),
        reported(0.5, ("send_error", "error", 1)),
    ]
    assert verdicts(records)["client_reports"] == "pass"
    assert verdicts([records[0], reported(0.5, ("sample_rate", "error", 1))])["client_reports"] == "fail"


def test_requests_not_from_an_sdk_carry_no_category() -> None:
    """A 404 to an unknown path (a browser's favicon) during a limit is neither a violation
    nor a refused item a client report must name."""
    favicon = make_record(
        received_at=make_sdk_record(at=0.5)["received_at"], summary={"sdk": "sentry.python/2.75.0", "items": []}
    )
    records = [
        limited(0.0, ("event",), headers=[], rule="rate-limit-all"),
        favicon,
        reported(0.7, ("sample_rate", "error", 1)),
    ]
    result = verdicts(records)
    assert result["backoff"] == "not_seen" and result["client_reports"] == "info"
    store = make_sdk_record(at=0.5)
    store["endpoint"] = "store"
    assert verdicts([records[0], store])["backoff"] == "fail"


def test_a_failure_at_the_very_end_is_not_seen() -> None:
    outage = make_scripted("outage")
    last = [sent(0.0), make_sdk_record(("event",), at=1.0, event_id=ids(5), status=503, scripted=outage)]
    assert verdicts(last)["server_error"] == "not_seen"
    big = [sent(0.0), make_sdk_record(("event",), at=1.0, event_id=ids(5), status=413, scripted=outage)]
    assert verdicts(big)["too_large"] == "not_seen"


def test_a_later_report_without_the_refused_items_fails() -> None:
    records = [
        make_sdk_record(("event",), at=0.0, event_id=ids(1), status=503, scripted=make_scripted("outage")),
        reported(0.5, ("sample_rate", "transaction", 1)),
    ]
    assert verdicts(records)["client_reports"] == "fail"


def test_reporting_429d_items_as_send_error_fails() -> None:
    """The spec: a 429's items are counted by the server, never in a client report."""
    records = [limited(0.0), reported(0.5, ("send_error", "transaction", 1)), sent(2.5, ("transaction",))]
    assert verdicts(records)["client_reports"] == "fail"


def test_backoff_reported_for_a_category_not_limited_fails_scope() -> None:
    records = [limited(0.0), reported(0.5, ("ratelimit_backoff", "error", 1))]
    assert verdicts(records)["scope"] == "fail"


def test_retries_are_counted_and_a_resend_after_a_5xx_answer_fails() -> None:
    """sentry-cli retries a 503 with the same event id: the spec says discard on a 5xx
    answer (expected-features, "Dealing with Network Failures"): fail; stored twice: fail."""
    outage = make_scripted("outage")
    retried = [
        make_sdk_record(("event",), at=0.0, event_id=ids(7), status=503, scripted=outage),
        make_sdk_record(("event",), at=1.5, event_id=ids(7), status=503, scripted=outage),
        make_sdk_record(("event",), at=4.5, event_id=ids(7)),
    ]
    assert verdicts(retried)["server_error"] == "fail"
    assert "2 after a 5xx answer" in detail(retried, "server_error")
    assert section(retried)["sdks"][0]["retries"] == {
        "failures": 2, "dropped_connections": 0, "events": 1, "retried": 1, "attempts": 2,
        "gap_min_s": 1.5, "gap_max_s": 3, "duplicated": 0,
    }  # fmt: skip
    dropped = make_sdk_record(("event",), at=0.0, event_id=ids(8), status=0, scripted=make_scripted("drop", drop=True))
    twice = [dropped, sent(1.0, event_id=ids(8)), sent(2.0, event_id=ids(8))]
    assert verdicts(twice)["server_error"] == "fail"
    assert failed(section(twice))


def test_413_dropped_resent_unchanged_or_changed() -> None:
    big = make_scripted("too-large")
    answer = make_sdk_record(("event",), at=0.0, event_id=ids(9), status=413, scripted=big)
    python = [answer, sent(0.1), reported(0.2, ("send_error", "error", 1))]
    result = verdicts(python)
    assert result["too_large"] == "pass" and result["client_reports"] == "pass"
    assert verdicts([answer, make_sdk_record(("event",), at=1.0, event_id=ids(9))])["too_large"] == "fail"
    smaller = make_sdk_record(("event",), at=1.0, event_id=ids(9))
    smaller["body_size"] = 10
    assert verdicts([answer, smaller])["too_large"] == "info"


def test_the_section_is_absent_without_a_scripted_answer() -> None:
    assert "behaviour" not in report.build_report([sent(0.0)]).to_json()["sections"]
    built = report.build_report([sent(0.0), make_sdk_record(at=1.0, scripted=make_scripted("slow"))]).to_json()
    assert "behaviour" in built["sections"]
    assert set(verdicts([make_sdk_record(at=1.0, scripted=make_scripted("slow"))]).values()) == {"not_seen"}


def test_sdks_are_apart() -> None:
    records = [*python_transaction_limit(), sent(0.5, ("transaction",), sdk=NODE)]
    data = section(records)
    assert [(row["sdk"], row["requests"]) for row in data["sdks"]] == [
        ("sentry.python", 6),
        ("sentry.javascript.node", 1),
    ]
    assert verdicts(records, 1)["backoff"] == "not_seen"  # node never got the limit


def test_the_timeline_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(behaviour_timeline, "MAX_ENTRIES", 3)
    data = section(python_transaction_limit())
    assert data["sdks"][0]["notes"] == ["3 request(s) past the first 3 not judged"]
    assert data["sdks"][0]["requests"] == 6


def _mixed() -> list[dict[str, Any]]:
    return [*python_transaction_limit(), *[_shift(r, 10) for r in python_outage()], sent(20.0, sdk=NODE)]


def _shift(record: dict[str, Any], seconds: float) -> dict[str, Any]:
    from datetime import timedelta

    from sentry_mirror.core.record import format_time, parse_time

    return {**record, "received_at": format_time(parse_time(record["received_at"]) + timedelta(seconds=seconds))}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.booleans(), min_size=11, max_size=11), st.booleans())
def test_merge_equals_one_pass(part: list[bool], reverse: bool) -> None:
    """Records shared out between two builders in any way, merged in either order: the
    result of one pass (the timelines are ordered by time before any verdict)."""
    records = _mixed()
    assert len(records) == len(part)
    whole = ReportBuilder(sections=["behaviour"])
    for record in records:
        whole.add(record)
    first, second = ReportBuilder(sections=["behaviour"]), ReportBuilder(sections=["behaviour"])
    for record, mine in zip(records, part, strict=True):
        (first if mine else second).add(record)
    if reverse:
        second.merge(first)
        first = second
    else:
        first.merge(second)
    assert first.build(["behaviour"]).to_json() == whole.build(["behaviour"]).to_json()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_SCRIPTED = _JSON | st.fixed_dictionaries(
    {}, optional=dict.fromkeys(("rule", "source", "natural", "delay_ms", "drop", "partial"), _JSON)
)
_HEADERS = st.lists(st.lists(_JSON, min_size=0, max_size=3) | _JSON, max_size=4) | _JSON
_ROW = st.fixed_dictionaries({}, optional={"reason": _JSON, "category": _JSON, "quantity": _JSON})
_REPORT = _JSON | st.fixed_dictionaries({}, optional={"discarded_events": st.lists(_ROW | _JSON, max_size=4) | _JSON})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_SCRIPTED, _HEADERS, _REPORT, st.sampled_from([0, 200, 413, 429, 503]), _JSON, _JSON, _JSON)
def test_hostile_records_never_raise(
    scripted: Any, headers: Any, payload: Any, status: int, event_id: Any, received: Any, size: Any
) -> None:
    record = make_sdk_record((({"type": "client_report"}, payload), "transaction"), at=1.0, status=status)
    record["scripted"] = scripted
    record["response"]["headers"] = headers
    record["summary"]["event_id"] = event_id
    record["body_size"] = size
    odd = {**record, "received_at": received if isinstance(received, str) else record["received_at"]}
    aggregator = Behaviour()
    for data in (record, odd, make_record(), {"scripted": {}}):
        aggregator.add(RecordView(data))
    result = aggregator.result()
    failed(result)
    assert sum(row["requests"] for row in result["sdks"]) == 4


@given(_JSON)
def test_failed_takes_any_json(value: Any) -> None:
    assert failed(value if isinstance(value, dict) else {"sdks": value}) in (True, False)


@pytest.mark.parametrize(
    "headers",
    [
        [("X-Sentry-Rate-Limits", "inf:transaction:organization")],
        [("Retry-After", "inf")],
        [("Retry-After", "1e300")],
        [("X-Sentry-Rate-Limits", "nan:transaction:organization"), ("Retry-After", "nan")],
        [("X-Sentry-Rate-Limits", "1e308:transaction:organization")],
    ],
)
def test_headers_with_numbers_past_reason_are_judged_not_crashed_on(headers: list[tuple[str, str]]) -> None:
    result = verdicts([limited(0, headers=headers), sent(1, ("transaction",))])
    assert result["backoff"] == "fail"  # a 429 whatever its header: no "no 429"


def test_retry_after_as_an_http_date_counts_from_the_answer() -> None:
    date = format_datetime(T0 + timedelta(seconds=3), usegmt=True)
    result = detail([limited(0, headers=[("Retry-After", date)]), sent(1), sent(3.5)], "retry_after")
    assert "a request 1 s after a 429 with Retry-After 3 s" in result


def test_a_resend_after_a_network_error_is_told_not_failed() -> None:
    """A dropped connection, or a resend received before a delayed 503 went out (the SDK
    timed out): a network error, which the spec lets an SDK retry. The gap counts from the
    previous send, never below zero."""
    dropped = make_sdk_record(("event",), at=0.0, event_id=ids(8), status=0, scripted=make_scripted("drop", drop=True))
    assert verdicts([dropped, sent(1.0, event_id=ids(8)), sent(2.0)])["server_error"] == "info"
    slow = make_sdk_record(("event",), at=0.0, event_id=ids(7), status=503, scripted=make_scripted("s", delay_ms=5000))
    records = [slow, sent(2.0, event_id=ids(7)), sent(6.0)]
    assert verdicts(records)["server_error"] == "info"
    assert section(records)["sdks"][0]["retries"]["gap_min_s"] == 2


def _dsn(record: dict[str, Any], project: str, key: str = "k") -> dict[str, Any]:
    return {**record, "project_id": project, "auth": {**(record.get("auth") or {}), "public_key": key}}


def test_each_dsn_of_an_sdk_is_judged_apart() -> None:
    """A limit on project 1 says nothing of what the SDK sends to project 2."""
    records = [_dsn(limited(0.0), "1")]
    records += [_dsn(sent(0.5 + i * 0.5, ("transaction",)), "2") for i in range(4)]
    records += [_dsn(sent(3.0, ("transaction",)), "1")]
    data = section(records)
    assert [(row["project"], row["requests"]) for row in data["sdks"]] == [("1", 2), ("2", 4)]
    assert not failed(data)
    other_key = [_dsn(limited(0.0), "1", "a"), _dsn(sent(0.5, ("transaction",)), "1", "b")]
    assert not failed(section(other_key))


def test_a_backoff_failure_says_another_process_may_have_sent_it() -> None:
    records = [limited(0.0), sent(0.5, ("transaction",)), sent(0.8, ("transaction",))]
    assert "or another process of the same SDK and DSN" in detail(records, "backoff")


def test_sdks_past_the_first_50_are_counted_not_judged() -> None:
    records = [sent(0.01 * i, sdk=(f"sdk{i}", "1")) for i in range(50)]
    records += [limited(1.0, sdk=("late.a", "1")), sent(1.5, ("transaction",), sdk=("late.b", "1"))]
    records += [reported(2.0, ("send_error", "error", 3), sdk=("late.b", "1"))]
    data = section(records)
    other = data["sdks"][-1]
    assert other["sdk"] == "(other)" and other["requests"] == 3
    assert {v["status"] for v in other["verdicts"]} == {"not_seen"}
    assert "2 SDK(s) past the first 50, mixed: not judged" in other["notes"]
    assert other["client_reports"] == [{"reason": "send_error", "category": "error", "quantity": 3}]
    assert not failed(data)


def test_the_entries_are_bounded_over_every_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    from sentry_mirror.core.report import behaviour

    monkeypatch.setattr(behaviour, "MAX_TOTAL", 4)
    data = section([*python_transaction_limit(), sent(5.0, sdk=NODE)])
    assert data["sdks"][0]["notes"] == ["2 request(s) past the first 4 not judged"]
    assert data["notes"] == ["4 request(s) kept over every SDK: later ones not judged"]


def test_fewer_reported_than_refused_fails_with_the_shortfall() -> None:
    outage = make_scripted("outage")
    records = [
        make_sdk_record(("event",), at=0.0, event_id=ids(1), status=503, scripted=outage),
        make_sdk_record(("event",), at=0.1, event_id=ids(2), status=503, scripted=outage),
        reported(0.5, ("network_error", "error", 1)),
        sent(1.0),
    ]
    assert verdicts(records)["client_reports"] == "fail"
    assert "names error 1 as send_error or network_error" in detail(records, "client_reports")
    records[2] = reported(0.5, ("network_error", "error", 2))
    assert verdicts(records)["client_reports"] == "pass"
    assert "network_error for HTTP answers" in detail(records, "client_reports")


def test_a_resend_after_another_4xx_fails_client_error() -> None:
    """Java and Cocoa resent a 400'd envelope; the spec: discard on any 4xx but 429. The
    resent event is not counted twice as refused."""
    bad = make_scripted("bad")
    first = make_sdk_record(("event",), at=0.0, event_id=ids(7), status=400, scripted=bad)
    again = make_sdk_record(("event",), at=1.0, event_id=ids(7), status=400, scripted=bad)
    records = [first, again, sent(2.0), reported(3.0, ("send_error", "error", 1))]
    result = verdicts(records)
    assert result["client_error"] == "fail" and result["too_large"] == "not_seen"
    assert result["client_reports"] == "pass"
    assert verdicts([first, sent(2.0), reported(3.0, ("send_error", "error", 1))])["client_error"] == "pass"


def test_unknown_client_report_categories_are_noted_not_judged() -> None:
    records = [
        limited(0.0),
        reported(1.0, ("ratelimit_backoff", "\x1b[41mcat", 5), ("ratelimit_backoff", "transaction", 1)),
    ]
    data = section(records)
    assert verdicts(records)["scope"] != "fail"
    assert any("1 unknown categor(ies), not judged: '\\x1b[41mcat'" in note for note in data["sdks"][0]["notes"])


_HEADER_VALUES = st.one_of(
    st.floats().map(str), st.text(max_size=20), st.floats().map(lambda f: f"{f}:transaction:org")
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["Retry-After", "X-Sentry-Rate-Limits"]), _HEADER_VALUES), max_size=3),
       st.sampled_from([200, 429, 503]))  # fmt: skip
def test_any_limit_header_gives_a_section(headers: list[tuple[str, str]], status: int) -> None:
    answer = make_sdk_record(("transaction",), at=0.0, event_id=ids(1), status=status, headers=headers,
                             scripted=make_scripted("fuzz"))  # fmt: skip
    data = section([answer, sent(1.0, ("transaction",)), sent(70.0, ("transaction",))])
    assert {v["check"] for v in data["sdks"][0]["verdicts"]} >= {"backoff", "retry_after"}


def test_no_retry_is_not_seen_when_the_traffic_after_the_failure_is_too_short() -> None:
    """A request 0.05 s after the 503 is no evidence the SDK would not retry (sentry-cli waits
    1.5 s); a second later it is."""
    outage = make_scripted("outage")
    failed_send = make_sdk_record(("event",), at=0.0, event_id=ids(1), status=503, sdk=NODE, scripted=outage)
    assert verdicts([failed_send, sent(0.05, sdk=NODE)])["server_error"] == "not_seen"
    assert verdicts([failed_send, sent(1.5, sdk=NODE)])["server_error"] == "pass"


def test_the_next_segment_of_a_replay_is_no_resend() -> None:
    """Every segment of a session replay carries the replay's id as its event id: segment 1
    after a 500 on segment 0 is the SDK going on, not a resend (reviewD 1)."""
    flaky = make_scripted("flaky")
    replay = ("replay_event", "replay_recording")
    records = [
        make_sdk_record(replay, at=0.0, event_id=ids(7), status=500, sdk=NODE, scripted=flaky),
        make_sdk_record(replay, at=5.0, event_id=ids(7), sdk=NODE),
    ]
    assert verdicts(records)["server_error"] in ("not_seen", "pass")
    assert "sent again" not in detail(records, "server_error")
