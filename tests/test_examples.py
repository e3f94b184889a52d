"""The examples run against a real listener, and the committed samples are what they send.

The node and browser examples use the JavaScript clients the conformance tests pin
(``tests/conformance/js``) and Debian's chromium: outside CI they skip when those are not
installed; in CI (``CI=true``) that fails.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from examples.refresh_samples import example_env
from sentry_mirror.core.record import Record
from sentry_mirror.core.script.parse import parse
from sentry_mirror.core.summary import record_title
from sentry_mirror.io.snapshot import iter_records
from tests.conformance.clients import JS_DIR, need_chromium, need_node

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOTS = ROOT / "snapshots"

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

#: What examples/node_shop.js sends: (item types, title) of each request, in any order
#: (@sentry/node sends in parallel, over several connections).
NODE_SHOP = Counter(
    {
        ("event", "PaymentDeclined: card ending 0000 declined for 2500 cents"): 1,
        ("event", "PaymentDeclined: amount 250000 over the limit"): 1,
        ("span", "SELECT * FROM baskets WHERE id = $1 (+2 more)"): 1,  # the trace, as a span stream
        ("event", "BasketNotFound: basket 7 not found"): 1,
        ("event", "BasketNotFound: basket 9 not found"): 1,
        ("event", "TypeError: Reduce of empty array with no initial value"): 1,
        ("event", "Error: checkout failed for basket 3"): 1,
        ("event", "payment provider slow: 2300 ms for order 1001"): 1,
        ("event", "payment provider slow: 4100 ms for order 1002"): 1,
        ("event", "webhook"): 1,
        ("check_in", "nightly-report ok"): 1,
        ("log", "basket 1 checked out (+1 more)"): 1,
        ("session", "session exited"): 1,
    }
)

#: What examples/browser/ sends, in any order: the page's session (sent "ok" when the page
#: is idle, then "unhandled" after the uncaught error), and three events.
BROWSER_SHOP = Counter(
    {
        ("session", "session ok"): 1,
        ("event", "TypeError: Cannot read properties of undefined (reading 'items')"): 1,  # uncaught
        ("session", "session unhandled"): 1,
        ("event", "PaymentDeclined: card ending 0000 declined for 2500 cents"): 1,  # handled
        ("event", "payment provider slow: 2300 ms for order 1001"): 1,
    }
)


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


def contents(records: list[Record]) -> Counter[tuple[str, str]]:
    """(item types, title) of each request but client reports, counted."""
    out: Counter[tuple[str, str]] = Counter()
    for record, title in zip(
        (r for r in records if set(r.item_types) != {"client_report"}), titles(records), strict=True
    ):
        out[(",".join(record.item_types), title)] += 1
    return out


def pinned(package: str) -> str:
    """The version tests/conformance/js/package.json pins: the samples are made with it."""
    return str(json.loads((JS_DIR / "package.json").read_text())["dependencies"][package])


def read_sample(name: str) -> list[Record]:
    warnings: list[str] = []
    records = list(iter_records([SNAPSHOTS / f"sample-{name}.jsonl.zst"], on_warning=warnings.append))
    assert [] == warnings
    return records


async def run_example(argv: list[str], dsn: str) -> subprocess.CompletedProcess[str]:
    """Run an example to the end without blocking the loop that serves the listener."""
    return await asyncio.to_thread(
        subprocess.run, argv, env=example_env(dsn), cwd=ROOT, capture_output=True, text=True, timeout=120
    )


async def test_python_shop_example_against_a_listener(mirror: Any) -> None:
    """The example exits 0 and everything it sends is answered 200 and recorded."""
    result = await run_example([sys.executable, str(ROOT / "examples" / "python_shop.py")], mirror.dsn())
    assert 0 == result.returncode, result.stderr
    records = mirror.records()
    assert SHOP_TITLES == titles(records)
    assert {200} == {r.status for r in records}


def test_the_committed_sample_is_the_shop_example() -> None:
    """snapshots/sample-python.jsonl.zst (refreshed by examples/refresh_samples.py) reads cleanly."""
    records = read_sample("python")
    assert SHOP_TITLES == titles(records)
    assert {"br"} == {r.data["content_encoding"] for r in records}


def test_the_committed_node_sample_is_the_node_shop_example() -> None:
    """snapshots/sample-node.jsonl.zst: what examples/node_shop.js sends, by the pinned @sentry/node."""
    records = read_sample("node")
    assert NODE_SHOP == contents(records)
    assert {f"sentry.javascript.node/{pinned('@sentry/node')}"} == {r.data["auth"]["sentry_client"] for r in records}
    assert {200} == {r.status for r in records}


def test_the_committed_browser_sample_is_the_browser_shop_example() -> None:
    """snapshots/sample-browser.jsonl.zst: what examples/browser/ sends, by the pinned
    @sentry/browser, cross-origin from a page on another loopback port."""
    records = read_sample("browser")
    assert BROWSER_SHOP == contents(records)
    assert {f"sentry.javascript.browser/{pinned('@sentry/browser')}"} == {
        r.data["auth"]["sentry_client"] for r in records
    }
    assert {200} == {r.status for r in records}
    assert {"POST"} == {r.data["method"] for r in records}
    origins = {value for r in records for name, value in r.data["headers"] if name.lower() == "origin"}
    assert 1 == len(origins) and origins.pop().startswith("http://127.0.0.1:")


async def test_node_shop_example_against_a_listener(mirror: Any) -> None:
    """examples/node_shop.js exits 0, and everything it sends is answered 200 and recorded."""
    node = need_node("@sentry/node")
    result = await run_example([node, str(ROOT / "examples" / "node_shop.js")], mirror.dsn())
    assert 0 == result.returncode, result.stderr
    records = mirror.records()
    assert NODE_SHOP == contents(records)
    assert {200} == {r.status for r in records}


async def test_browser_shop_example_against_a_listener(mirror: Any) -> None:
    """examples/browser/run.py (the page in headless chromium) exits 0: the SDK says it
    sent everything and got 200s; all of it is recorded."""
    need_node("@sentry/browser", "esbuild", "playwright-core")
    need_chromium()
    result = await run_example([sys.executable, str(ROOT / "examples" / "browser" / "run.py")], mirror.dsn())
    assert 0 == result.returncode, result.stdout + result.stderr
    records = mirror.records()
    assert BROWSER_SHOP == contents(records)
    assert {200} == {r.status for r in records}


def test_the_example_script_and_the_scripts_in_the_docs_parse() -> None:
    """examples/answers.toml and every TOML block of docs/scripts.md are scripts the listener
    takes (a doc example that drifted from the parser fails here)."""
    example = parse((ROOT / "examples" / "answers.toml").read_text(), "answers.toml")
    assert [r.name for r in example.rules] == [
        "transaction quota used up",
        "deploy restarts the server",
        "a slow answer now and then",
    ]
    doc = (ROOT / "docs" / "scripts.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", doc, re.S)
    assert blocks
    for number, block in enumerate(blocks, 1):
        assert parse(block, f"scripts.md block {number}").rules
