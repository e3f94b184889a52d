"""The results of a replay (sentry_mirror.core.replay.results): the outcome of one answer
and the summary rows they add up to (with the verdicts on answers; real round trips are in tests/io/test_replay.py)."""

from __future__ import annotations

from array import array
from collections import Counter
from typing import Any

import pytest

from sentry_mirror.core.auth import parse_dsn
from sentry_mirror.core.replay.results import ReplaySummary, Result, Row, items_label
from sentry_mirror.core.replay.rewrite import Target, rewrite_request
from tests.factories import make_record


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
        "not_replayed": {"web_api": 0, "uploads": 0},
    } == summary.to_dict()


def test_web_api_requests_and_uploads_are_counted_apart_from_the_other_skips() -> None:
    from sentry_mirror.core.replay.plan import SKIPPED_UPLOAD, SKIPPED_WEB_API

    summary = ReplaySummary(skipped=Counter({SKIPPED_WEB_API: 3, SKIPPED_UPLOAD: 2, "CORS preflight (OPTIONS)": 1}))
    data = summary.to_dict()
    assert {"web_api": 3, "uploads": 2} == data["not_replayed"]
    assert {"CORS preflight (OPTIONS)": 1} == data["skipped"]


# ------------------------------------------------------------------ verdicts


def prepared(**overrides: Any) -> Any:
    data = make_record(
        **{
            "path": "/api/1/envelope/",
            "headers": [["X-Sentry-Auth", "Sentry sentry_key=k"]],
            "endpoint": "envelope",
            "project_id": "1",
            "auth": {"form": "x-sentry-auth", "public_key": "k"},
            "body": '{"event_id":"' + "a" * 32 + '"}\n{"type":"event"}\n{}\n',
            "body_decoded": True,
            "summary": {"event_id": "a" * 32, "items": [{"type": "event"}]},
            "response": {"status": 200},
            **overrides,
        }
    )
    return rewrite_request(data, Target(parse_dsn("http://k@127.0.0.1:1/1")))


@pytest.mark.parametrize(
    ("status", "headers", "body", "outcome", "problems"),
    [
        (200, [], b'{"id":"' + b"a" * 32 + b'"}', "accepted", []),
        (200, [], b"{}", "accepted", ['200 without {"id": <the event id sent>} in the body']),
        (200, [], b"OK", "accepted", ['200 without {"id": <the event id sent>} in the body']),
        (429, [("Retry-After", "60")], b"", "rate-limited", []),
        (429, [], b"", "rate-limited", ["429 without Retry-After or X-Sentry-Rate-Limits"]),
        (400, [], b'{"detail":"invalid event envelope"}', "rejected", []),
        (307, [("Location", "http://127.0.0.1:2/")], b"", "rejected", []),  # SDKs do not follow redirects
        (503, [], b"", "server-error", []),
    ],
)
def test_result_outcome_and_contract(
    status: int, headers: list[tuple[str, str]], body: bytes, outcome: str, problems: list[str]
) -> None:
    result = Result(prepared(), 0.0, status=status, headers=headers, body=body)
    result.check_contract()
    assert (outcome, problems) == (result.outcome, result.problems)
    assert result.failed == (outcome != "accepted" or bool(problems))


def test_accepting_what_sentry_refuses_is_a_contract_problem() -> None:
    result = Result(prepared(response={"status": 413}), 0.0, status=200, body=b'{"id":"' + b"a" * 32 + b'"}')
    result.check_contract()
    assert ["accepted what Sentry refuses (413)"] == result.problems


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        ([("X-Sentry-Error", "event submission rejected")], b"{}", "event submission rejected"),
        ([], b'{"detail":"bad key"}', "bad key"),
        ([], b"Forbidden\nmore", "Forbidden"),
    ],
)
def test_reason(headers: list[tuple[str, str]], body: bytes, reason: str) -> None:
    assert reason == Result(prepared(), 0.0, status=403, headers=headers, body=body).reason


def test_reasons_are_bounded_in_length_and_in_number() -> None:
    """A candidate may answer each request with a new, long reason: the report keeps the start
    of each and a bounded number of distinct ones (the rest counted together)."""
    from sentry_mirror.core.replay.results import MAX_REASON, MAX_REASONS, OTHER_REASONS

    long = Result(prepared(), 0.0, status=400, headers=[("X-Sentry-Error", "x" * 100_000)])
    assert "x" * MAX_REASON + "…" == long.reason
    report = ReplaySummary()
    for n in range(MAX_REASONS + 50):
        report.add(Result(prepared(), 0.0, status=400, body=b'{"detail":"bad event %d"}' % n))
    assert MAX_REASONS + 1 == len(report.reasons)
    assert 50 == report.reasons[(400, OTHER_REASONS)]
    assert MAX_REASONS + 50 == sum(report.reasons.values())


def test_report_counts_by_endpoint_items_and_reason() -> None:
    report = ReplaySummary()
    report.add(Result(prepared(), 0.0, status=200, body=b'{"id":"' + b"a" * 32 + b'"}', latency_ms=1.0))
    report.add(Result(prepared(), 0.0, status=400, body=b'{"detail":"nope"}', latency_ms=3.0))
    report.add(Result(prepared(), 0.0, held_back=("error",)))
    report.add(Result(prepared(), 0.0, error="ClientConnectorError"))
    summary = report.to_dict()
    assert {"accepted": 1, "rejected": 1, "held-back": 1, "transport-error": 1} == summary["outcomes"]
    (row,) = summary["rows"]
    assert (3, 1, 1, 1, 1) == (row["sent"], row["2xx"], row["4xx"], row["held_back"], row["transport_errors"])
    assert {"event": 3} == summary["items_sent"] and {"event": 1} == summary["items_accepted"]
    assert {"event": 1} == summary["items_held_back"]
    assert [
        {"status": 400, "reason": "nope", "count": 1},
        {"status": None, "reason": "ClientConnectorError", "count": 1},
    ] == summary["rejections"]
    assert 2 == report.failed  # held back is not a failure
