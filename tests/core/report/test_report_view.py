"""The record view the sections share: facts read once, payloads decoded once and only when
asked for, so that a body that does not decode still counts as a request."""

from __future__ import annotations

import base64
from typing import Any

from sentry_mirror.core import report
from sentry_mirror.core.malformed import Malformed
from sentry_mirror.core.report.view import RecordView
from tests.factories import make_envelope, make_event, make_record, make_request


def event_record() -> dict[str, Any]:
    body = make_envelope(
        headers={"sdk": {"name": "sentry.python", "version": "2.75.0"}}, items=[({"type": "event"}, make_event())]
    )
    return make_record(make_request(path="/api/1/envelope/", body=body))


def test_the_view_reads_the_record_once() -> None:
    data = event_record()
    view = RecordView(data)
    assert (True, "envelope", "sentry.python") == (view.accepted, view.endpoint, view.sdk_name)
    assert ["event"] == [item["type"] for item in view.items]
    payloads = view.payloads
    assert ["event"] == [kind for _, kind in payloads] and view.payloads is payloads


def test_a_body_that_does_not_decode_is_counted_as_a_request_and_named() -> None:
    data = event_record()
    data.update(body_encoded=True, content_encoding="gzip", body_base64=True, body=base64.b64encode(b"nope").decode())
    warnings: list[str] = []
    built = report.build_report([data], malformed=Malformed(warnings.append, where="report")).to_json()
    assert 1 == built["malformed"]["records"] and 1 == len(warnings)
    assert (1, 1, {"event": 1}) == (
        built["traffic"]["requests"],
        built["traffic"]["items"],
        built["traffic"]["items_by_type"],
    )
    assert 0 == built["fields"]["highlights"]["events"]
