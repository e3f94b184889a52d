"""A small app using the real sentry-python, run as its own process by test_forward_sdk.py.

    python forward_app.py <dsn> <report.json> <events> [--transaction]

Captures ``events`` events (a handled exception, then a message, in turn) and, with
``--transaction``, a transaction with a child span after the first one; each is followed
by a flush, so the SDK sends one request at a time. The SDK's own HTTP transport sends
everything; it is subclassed only to time each request at the client (from the request
written to the answer read) and to note the status and rate-limit header it got, and
what the SDK reports lost. The report: the SDK's version, the ids it gave the events and
the transaction, each request, and the losses (reason, category).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import sentry_sdk
from sentry_sdk.transport import HttpTransport

dsn, report_path, events = sys.argv[1], sys.argv[2], int(sys.argv[3])
with_transaction = "--transaction" in sys.argv[4:]
requests: list[dict[str, Any]] = []
lost: list[list[str]] = []


class TimedTransport(HttpTransport):
    """sentry-python's HTTP transport, timing each request it makes."""

    def _request(self, method: str, endpoint_type: Any, body: Any, headers: Any) -> Any:
        started = time.perf_counter()
        try:
            response = super()._request(method, endpoint_type, body, headers)
        except Exception as exc:
            requests.append({"error": repr(exc), "ms": (time.perf_counter() - started) * 1000})
            raise
        ms = (time.perf_counter() - started) * 1000
        rate_limits = response.headers.get("X-Sentry-Rate-Limits")
        requests.append({"status": response.status, "ms": ms, "rate_limits": rate_limits})
        return response

    def record_lost_event(self, reason: str, data_category: Any = None, item: Any = None, **kwargs: Any) -> None:
        category = data_category or (item.data_category if item is not None else None)
        lost.append([reason, str(category)])
        super().record_lost_event(reason, data_category, item, **kwargs)


transactions: list[str] = []


def remember_transaction(event: Any, hint: Any) -> Any:
    transactions.append(event["event_id"])
    return event


sentry_sdk.init(
    dsn,
    transport=TimedTransport,
    release="shop@1.4.2",
    environment="test",
    traces_sample_rate=1.0,
    default_integrations=False,
    auto_session_tracking=False,
    send_client_reports=False,
    before_send_transaction=remember_transaction,
)
event_ids = []
for n in range(events):
    if n % 2 == 0:
        try:
            raise RuntimeError(f"checkout failed for order {n}")
        except RuntimeError:
            event_ids.append(sentry_sdk.capture_exception())
    else:
        event_ids.append(sentry_sdk.capture_message(f"payment provider slow for order {n}"))
    sentry_sdk.flush(timeout=10)
    if with_transaction and n == 0:
        with sentry_sdk.start_transaction(name="GET /checkout", op="http.server"):
            with sentry_sdk.start_span(op="db.query", name="SELECT * FROM basket"):
                pass
        sentry_sdk.flush(timeout=10)
sentry_sdk.get_client().close(timeout=10)
report = {"sdk": sentry_sdk.VERSION, "event_ids": event_ids, "transactions": transactions}
report |= {"requests": requests, "lost": lost}
with open(report_path, "w") as f:
    json.dump(report, f)
