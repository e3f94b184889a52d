"""A small app using the real sentry-python, run as its own process by test_failure_answers.py.

    python failure_app.py <dsn> <wait seconds> <report.json>

Three phases, each ending with ``flush``: (1) one error; (2) at once, an error and a
transaction; (3) after ``wait`` seconds, an error and a transaction. Then ``close``. The
report holds each phase's start time and the ids the SDK gave its error and transaction,
so the test can tell which of them reached the server, and when.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import sentry_sdk

dsn, wait, report_path = sys.argv[1], float(sys.argv[2]), sys.argv[3]
transactions: dict[str, str] = {}


def remember_transaction(event: Any, hint: Any) -> Any:
    transactions[event["transaction"]] = event["event_id"]
    return event


sentry_sdk.init(
    dsn,
    release="shop@1.4.2",
    environment="test",
    traces_sample_rate=1.0,
    before_send_transaction=remember_transaction,
)


def phase(name: str, with_transaction: bool) -> dict[str, Any]:
    started = time.time()
    try:
        raise RuntimeError(f"{name} error")
    except RuntimeError:
        error_id = sentry_sdk.capture_exception()
    if with_transaction:
        with sentry_sdk.start_transaction(name=f"GET /{name}", op="http.server"):
            with sentry_sdk.start_span(op="db.query", name="SELECT 1"):
                pass
    sentry_sdk.flush(timeout=5)
    return {"name": name, "at": started, "error": error_id, "transaction": transactions.get(f"GET /{name}")}


report = {"sdk": sentry_sdk.VERSION, "phases": [phase("first", False), phase("second", True)]}
time.sleep(wait)
report["phases"].append(phase("third", True))
sentry_sdk.get_client().close(timeout=5)
with open(report_path, "w") as f:
    json.dump(report, f)
