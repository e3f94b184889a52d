"""The real @sentry/node (pinned in js/package-lock.json), as a separate node process.

``js/node_app.js`` sends errors (one with a cause), a message, a handled error with a
binary attachment and one large enough to be gzip'd, a trace, a session, a cron check-in
and logs, through the SDK's own ``makeNodeTransport``; node:http is wrapped (the
transport's ``httpModule`` option) to record each request's body bytes and the answer.
Traces go out both ways the SDK has: the default span stream (``span`` items, v2) and a
classic ``transaction`` (``traceLifecycle: "static"``).
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sentry_mirror.core import envelope
from sentry_mirror.core.summary import record_title
from tests.conformance.clients import decode_wire, envelope_json_items, header, installed_version, need_node, run


@pytest.mark.parametrize("lifecycle", ["stream", "static"])
async def test_node_sdk_traffic_is_recorded_byte_exact(mirror: Any, tmp_path: Path, lifecycle: str) -> None:
    node = need_node("@sentry/node")
    version = installed_version("@sentry/node")
    report_path = tmp_path / "report.json"
    ran = await run([node, "node_app.js", mirror.dsn(), lifecycle, str(report_path)], timeout=60)
    assert 0 == ran.returncode, ran.stderr
    assert "" == ran.stderr.strip()
    report = json.loads(report_path.read_text())

    # The client saw success: everything flushed, nothing dropped, no transport error.
    assert report["flushed"] is True
    assert [] == report["dropped"]
    assert [] == report["transport_errors"]
    assert [] == [r for r in report["requests"] if "error" in r]
    assert {200} == {r["status"] for r in report["requests"]}
    assert {200} == {status for _, _, status in report["sent_events"]}

    # Every request the SDK made is in the snapshot, decoded byte-exact, with the answer it got.
    records = mirror.records()
    assert len(report["requests"]) == len(records)
    sent = [
        (decode_wire(base64.b64decode(r["body_base64"]), r["headers"].get("content-encoding")), r)
        for r in report["requests"]
    ]
    assert Counter(body for body, _ in sent) == Counter(r.body for r in records)
    by_body = {r.body: r for r in records}
    for body, request in sent:
        record = by_body[body]
        assert record.status == request["status"]
        assert record.data["response"]["body"] == request["response_body"]
        assert record.data["content_encoding"] == request["headers"].get("content-encoding")
        assert record.data["path"] + "?" + record.data["query"] == request["path"]
        assert [] == record.data["notes"]
        assert record.data["error"] is None
    assert "gzip" in {r.data["content_encoding"] for r in records}  # bodies over 32 KiB

    # How @sentry/node sends (README "Tested SDKs"): key in the query string, no
    # Content-Type, no Content-Length (chunked), no `length` on JSON items.
    for record in records:
        assert {"form": "query", "public_key": "mirror", "sentry_version": "7"}.items() <= record.data["auth"].items()
        assert f"sentry.javascript.node/{version}" == record.data["auth"]["sentry_client"]
        assert header(record.data["headers"], "content-type") is None
        assert header(record.data["headers"], "content-length") is None
        assert "chunked" == header(record.data["headers"], "transfer-encoding")
        assert {"1"} == {record.data["project_id"]}
        for item in envelope.parse(record.body).items:
            assert ("length" in item.headers) == (item.type == "attachment")

    # Every id the SDK reported is in the snapshot.
    recorded_ids = {r.event_id for r in records} - {None}
    assert set(report["event_ids"]) <= recorded_ids
    assert {event_id for event_id, _, _ in report["sent_events"]} == recorded_ids
    for record in records:
        if record.event_id:
            assert {"id": record.event_id} == json.loads(record.data["response"]["body"])
    payloads = [(h, p) for r in records for h, p in envelope_json_items(r.body)]
    check_ins = [p for h, p in payloads if h["type"] == "check_in"]
    assert report["check_in_ids"] == [c["check_in_id"] for c in check_ins]
    assert "nightly-report" == check_ins[0]["monitor_slug"]
    if lifecycle == "stream":
        span_items = [(h, p) for h, p in payloads if h["type"] == "span"]
        assert "application/vnd.sentry.items.span.v2+json" == span_items[0][0]["content_type"]
        recorded_spans = {s["span_id"]: s for _, p in span_items for s in p["items"]}
        assert "transaction" not in {h["type"] for h, _ in payloads}
    else:
        transaction = next(p for h, p in payloads if h["type"] == "transaction")
        recorded_spans = {s["span_id"]: s for s in transaction["spans"]}
        recorded_spans[transaction["contexts"]["trace"]["span_id"]] = transaction
        assert "span" not in {h["type"] for h, _ in payloads}
    assert set(report["span_ids"]) <= set(recorded_spans)

    # What was sent, by type and title.
    types = Counter(t for r in records for t in r.item_types)
    assert types["event"] == 3
    assert types["attachment"] == 2
    assert types["session"] >= 2
    assert types["log"] == 1
    titles = {record_title(r.data) for r in records}
    assert "Error: could not load the basket" in titles
    assert "payment provider slow: 2300 ms" in titles
    assert "nightly-report ok" in titles
    if lifecycle == "static":
        assert "GET /checkout" in titles
    chained = next(r for r in records if record_title(r.data) == "Error: could not load the basket")
    event = envelope.parse(chained.body).items[0].json()
    assert ["SyntaxError", "Error"] == [e["type"] for e in event["exception"]["values"]]
    attachments = {
        item.headers["filename"]: item.payload
        for r in records
        for item in envelope.parse(r.body).items
        if item.type == "attachment"
    }
    assert b"\x00\x01bin\xff\n\r\n" == attachments["state.bin"]
    assert b"basket line\n" * 4000 == attachments["big.txt"]
    logs = next(p for h, p in payloads if h["type"] == "log")
    assert ["basket 42 checked out", "stock low"] == [entry["body"] for entry in logs["items"]]
