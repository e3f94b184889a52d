"""An app with the real sentry-python for ``probe --scenario rate-limit-transactions:2s``
(its DSN from ``SENTRY_DSN``):

    python phases.py <wait seconds> <report.json>

Three phases, each an error then a transaction, each ending with ``flush``: ``first``
(its transaction gets the 429 that starts the limit), ``inside`` (0.5 s later, inside the
limit: the error must arrive, the transaction must be held back) and ``after`` (``wait``
seconds later, past the limit: both must arrive). The report holds the ids the SDK gave
each phase's error and transaction.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import sentry_sdk

wait, report_path = float(sys.argv[1]), sys.argv[2]
transactions: dict[str, str] = {}


def remember(event: Any, hint: Any) -> Any:
    transactions[event["transaction"]] = event["event_id"]
    return event


sentry_sdk.init(traces_sample_rate=1.0, before_send_transaction=remember)


def phase(name: str) -> dict[str, Any]:
    error = sentry_sdk.capture_message(f"{name}: an error", level="error")
    with sentry_sdk.start_transaction(name=f"GET /{name}", op="http.server"):
        pass
    sentry_sdk.flush(timeout=5)
    return {"name": name, "error": error, "transaction": transactions.get(f"GET /{name}")}


phases = [phase("first")]
time.sleep(0.5)
phases.append(phase("inside"))
time.sleep(wait)
phases.append(phase("after"))
sentry_sdk.get_client().close(timeout=5)
with open(report_path, "w") as f:
    json.dump({"sdk": sentry_sdk.VERSION, "phases": phases}, f)
