"""A small app using the real sentry-python, run as its own process by test_scaling.py.

    python scaling_app.py <dsn> <report.json> <rounds> <name>

Each round: a handled exception, a transaction with a child span, and a session started
and ended; then the client is closed (everything flushed). The SDK's own HTTP transport
sends everything; it is subclassed only to note what it sent: each request's item types
and the status it got. The report is that list.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import sentry_sdk
from sentry_sdk.transport import HttpTransport

dsn, report_path, rounds, name = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
sent: list[dict[str, Any]] = []


class NotingTransport(HttpTransport):
    """sentry-python's HTTP transport, noting each request it makes (one worker thread)."""

    def _send_request(self, body: bytes, headers: Any, endpoint_type: Any, envelope: Any = None) -> None:
        sent.append({"types": [item.type for item in envelope.items] if envelope is not None else []})
        super()._send_request(body, headers, endpoint_type, envelope)

    def _request(self, method: str, endpoint_type: Any, body: Any, headers: Any) -> Any:
        response = super()._request(method, endpoint_type, body, headers)
        sent[-1]["status"] = response.status
        return response


sentry_sdk.init(
    dsn,
    transport=NotingTransport,
    release=f"shop@{name}",
    environment="scaling",
    traces_sample_rate=1.0,
    default_integrations=False,
    auto_session_tracking=False,
    transport_queue_size=10_000,
)
for index in range(rounds):
    try:
        raise ValueError(f"order {index} failed on {name}")
    except ValueError:
        sentry_sdk.capture_exception()
    with sentry_sdk.start_transaction(name=f"GET /orders/{index}", op="http.server"):
        with sentry_sdk.start_span(op="db.query", name="SELECT * FROM orders"):
            pass
    scope = sentry_sdk.get_isolation_scope()
    scope.start_session()
    scope.end_session()
sentry_sdk.get_client().close(60)
with open(report_path, "w", encoding="utf-8") as fo:
    json.dump(sent, fo)
