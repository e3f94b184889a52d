"""The examples run against a real listener, and the committed samples are what they send."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sentry_mirror.core.summary import record_title
from sentry_mirror.io.snapshot import iter_records

ROOT = Path(__file__).resolve().parent.parent

#: What examples/python_shop.py sends, in order (uuid-bearing titles cut at their id).
SHOP_TITLES = [
    "KeyError: 7",
    "PaymentDeclined: card ending 0000 declined for 2500 cents",
    "PaymentDeclined: amount 250000 over the limit",
    "POST /checkout",
    "KeyError: 9",
    "ZeroDivisionError: float division by zero",
    "RuntimeError: checkout failed for basket 3",
    "payment provider slow: 2300 ms for order 1001",
    "payment provider slow: 4100 ms for order 1002",
    "webhook",
    "nightly-report ok",
    "session exited",
    "basket 1 checked out (+1 more)",
]


def titles(records: list[Any]) -> list[str]:
    """Titles in order; client reports are left out (the SDK sends one when, under load,
    it drops something, at a moment of its choosing)."""
    result = []
    for record in records:
        if set(record.item_types) == {"client_report"}:
            continue
        title = record_title(record.data) or ""
        result.append("webhook" if title.startswith("webhook ") else title)
    return result


async def test_python_shop_example_against_a_listener(mirror: Any) -> None:
    """The example exits 0 and everything it sends is answered 200 and recorded."""
    env = {**os.environ, "SENTRY_DSN": mirror.dsn()}
    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, str(ROOT / "examples" / "python_shop.py")], env=env, timeout=120
    )
    assert 0 == result.returncode
    records = mirror.records()
    assert SHOP_TITLES == titles(records)
    assert {200} == {r.status for r in records}


def test_the_committed_sample_is_the_shop_example() -> None:
    """snapshots/sample-python.jsonl.zst (refreshed by examples/refresh_samples.py) reads cleanly."""
    warnings: list[str] = []
    records = list(iter_records([ROOT / "snapshots" / "sample-python.jsonl.zst"], on_warning=warnings.append))
    assert [] == warnings
    assert SHOP_TITLES == titles(records)
    assert {"br"} == {r.data["content_encoding"] for r in records}
