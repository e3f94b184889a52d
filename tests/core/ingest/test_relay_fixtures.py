"""The newest protocol pieces, from envelopes and requests built from Relay's own tests
(tests/data/relay_fixtures/README.md names each source): answered as Relay answers, kept
whole in the record, counted by type (``trace-metric`` as ``trace_metric``) and category in
``inspect`` and ``report``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from sentry_mirror.core import envelope
from sentry_mirror.core.describe import describe
from sentry_mirror.core.ingest import handle
from sentry_mirror.core.ratelimits import record_categories
from sentry_mirror.core.report.builder import build_report
from sentry_mirror.core.summary import record_title
from tests.factories import QUERY_AUTH, make_record, make_request

FIXTURES = Path(__file__).resolve().parents[2] / "data" / "relay_fixtures"


def _record(name: str) -> dict[str, Any]:
    data = make_record(make_request(body=(FIXTURES / name).read_bytes()))
    return json.loads(orjson.dumps(data))  # as readers read it back


@pytest.mark.parametrize(
    ("name", "types", "categories", "title"),
    [
        ("span_v2_with_attachment.envelope", ["span", "attachment"], ("span", "attachment"), "test span"),
        (
            "trace_metric.envelope",
            ["trace_metric"],
            ("trace_metric",),
            "http.request.duration distribution 123.45 (+1 more)",
        ),
        (
            "trace-metric.envelope",
            ["trace_metric"],
            ("trace_metric",),
            "http.request.duration distribution 123.45 (+1 more)",
        ),
        ("attachment_ref.envelope", ["event", "attachment"], ("error", "attachment"), "Hello, World!"),
        ("profile_chunk_ui.envelope", ["profile_chunk"], ("profile_chunk_ui",), None),
        ("profile_chunk_backend.envelope", ["profile_chunk"], ("profile_chunk",), None),
    ],
)
def test_fixture_envelopes_are_accepted_counted_and_kept_whole(
    name: str, types: list[str], categories: tuple[str, ...], title: str | None
) -> None:
    body = (FIXTURES / name).read_bytes()
    data = _record(name)
    assert 200 == data["response"]["status"]
    assert body == data["body"].encode()  # the record keeps the bytes sent, spelling and all
    assert types == [item["type"] for item in data["summary"]["items"]]
    assert types == list(describe(data).item_types)  # inspect's rows
    assert categories == record_categories(data)
    assert title == record_title(data)
    sent = [item.sent_type for item in envelope.parse(body).items]
    assert sent == [item["headers"]["type"] for item in data["summary"]["items"]]


def test_container_and_placeholder_headers_are_in_the_summary() -> None:
    span, attachment = _record("span_v2_with_attachment.envelope")["summary"]["items"]
    assert {"content_type": "application/vnd.sentry.items.span.v2+json", "item_count": 1}.items() <= span[
        "headers"
    ].items()
    assert {"meta_length": 237, "span_id": "eee19b7ec3c1b174"}.items() <= attachment["headers"].items()
    assert 260 == attachment["size"]
    ref = _record("attachment_ref.envelope")["summary"]["items"][1]
    assert "application/vnd.sentry.attachment-ref+json" == ref["headers"]["content_type"]
    assert 11 == ref["headers"]["attachment_length"]


def test_report_counts_both_trace_metric_spellings_as_one_type() -> None:
    records = [_record("trace_metric.envelope"), _record("trace-metric.envelope"), _record("profile_chunk_ui.envelope")]
    traffic = build_report(records, ["traffic"]).sections["traffic"]
    by_type = traffic["items_by_type"]
    assert 2 == by_type["trace_metric"]
    assert 1 == by_type["profile_chunk"]
    assert "trace-metric" not in by_type and "profile_chunk_ui" not in by_type


def test_two_trace_metric_containers_are_refused_and_other_spelling_is_not() -> None:
    """Relay takes one trace metric container per envelope (413 for two); ``trace-metric``
    is an unknown item to it, which no limit applies to."""
    item = (FIXTURES / "trace_metric.envelope").read_bytes().split(b"\n", 1)[1]
    twice = b"{}\n" + item + item
    assert 413 == handle(make_request(body=twice)).response.status
    other = (FIXTURES / "trace-metric.envelope").read_bytes().split(b"\n", 1)[1]
    assert 200 == handle(make_request(body=b"{}\n" + other + other)).response.status


def _tus_cases() -> list[dict[str, Any]]:
    return json.loads((FIXTURES / "tus_upload.json").read_text())


@pytest.mark.parametrize("case", _tus_cases(), ids=lambda case: case["name"])
def test_tus_requests_are_answered_as_relay_answers(case: dict[str, Any]) -> None:
    query = "&".join(filter(None, (case.get("query"), QUERY_AUTH)))
    request = make_request(
        method=case["method"], path=case["path"], query=query, headers=list(case["headers"].items()),
        body=case["body"].encode(),
    )  # fmt: skip
    outcome = handle(request)
    response = outcome.response
    headers = dict(response.headers)
    assert "tus_upload" == outcome.endpoint
    assert case["status"] == response.status, response.body
    assert case.get("response_headers", {}).items() <= headers.items()
    for name in case.get("no_headers", ()):
        assert name not in headers
    if "json" in case:
        assert case["json"] == json.loads(response.body)
    if "cause" in case:
        assert [case["cause"]] == json.loads(response.body)["causes"]
    if case.get("location"):
        location = urlsplit(headers["Location"])
        assert location.path.startswith("/api/42/upload/")
        assert "upload_signature" in parse_qs(location.query)


def test_one_span_container_per_envelope_and_standalone_spans_apart() -> None:
    """Relay's span limit applies to v2 containers (one per envelope); standalone v1 spans
    (the browser SDK's INP spans) are counted apart."""
    container = (FIXTURES / "span_v2_with_attachment.envelope").read_bytes().split(b"\n")[1:3]
    twice = b"\n".join([b"{}", *container, *container]) + b"\n"
    outcome = handle(make_request(body=twice))
    assert 413 == outcome.response.status
    assert "'span'" in json.loads(outcome.response.body)["detail"]
    standalone = b'{"type":"span"}\n{"span_id":"eee19b7ec3c1b174","op":"ui.interaction.click"}\n'
    assert 200 == handle(make_request(body=b"{}\n" + standalone * 3)).response.status


@pytest.mark.parametrize(
    ("first", "second", "named"),
    [
        ("profile", "profile_chunk", "profile_chunk"),
        ("profile_chunk", "profile_chunk_ui", "profile_chunk"),
        ("session", "sessions", None),
    ],
)
def test_types_sharing_a_relay_limit(first: str, second: str, named: str | None) -> None:
    """Relay counts a profile and a profile chunk against one limit (one per envelope), and
    sessions with session updates; the 413 names the item that went past it."""
    body = b"{}\n" + f'{{"type":"{first}"}}\n{{}}\n{{"type":"{second}"}}\n{{}}\n'.encode()
    outcome = handle(make_request(body=body))
    if named is None:
        assert 200 == outcome.response.status
    else:
        assert 413 == outcome.response.status
        assert f"type '{named}'" in json.loads(outcome.response.body)["detail"]
