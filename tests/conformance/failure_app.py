"""A small app using the real sentry-python, run as its own process by the conformance tests.

    python failure_app.py <dsn> <seconds> <report.json> [phases|steady]

``phases`` (test_failure_answers.py): three phases, each ending with ``flush``: (1) one
error; (2) at once, an error and a transaction; (3) after ``seconds``, an error and a
transaction. ``steady`` (test_scenarios.py): an error and a transaction, then ``flush``,
every 0.2 s for ``seconds``. Then ``close``. The report holds each phase's (or tick's)
start time and the ids the SDK gave its error and transaction, so the test can tell which
of them reached the server, and when.

With ``-`` as the DSN the app imports the SDK, prints ``ready`` and reads the DSN from
stdin: the test starts its listener (whose scripted answers count from its start) only
once the app is ready to send.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import sentry_sdk

dsn, seconds, report_path = sys.argv[1], float(sys.argv[2]), sys.argv[3]
mode = sys.argv[4] if len(sys.argv) > 4 else "phases"
if dsn == "-":
    print("ready", flush=True)
    dsn = sys.stdin.readline().strip()
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


report: dict[str, Any] = {"sdk": sentry_sdk.VERSION, "phases": []}
if mode == "steady":
    start = time.time()
    while time.time() < start + seconds:
        report["phases"].append(phase(f"tick{len(report['phases'])}", True))
        time.sleep(0.2)
else:
    report["phases"] += [phase("first", False), phase("second", True)]
    time.sleep(seconds)
    report["phases"].append(phase("third", True))
sentry_sdk.get_client().close(timeout=5)
with open(report_path, "w") as f:
    json.dump(report, f)
