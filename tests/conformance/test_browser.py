"""The real @sentry/browser, bundled with esbuild, in Debian's headless chromium.

The page (``js/index.html`` + ``js/browser_app.js``) is served from one loopback port by a
small aiohttp static server while the listener is on another, so every send is a
cross-origin ``fetch``. playwright-core drives the system ``chromium`` (executablePath,
fresh profile, no network but loopback). The page throws an uncaught error, leaves a
promise rejection unhandled, captures a handled error with a binary attachment, a message
and user feedback, after breadcrumbs (manual, console, click). Three variants:

- ``direct``: the DSN; text/plain (or untyped binary) POSTs, no preflight;
- ``cors``: a non-safelisted header (``transportOptions.headers``) forces a preflight;
- ``tunnel``: ``tunnel`` is the listener's ``/tunnel``; the DSN is only in the envelope.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from sentry_mirror.core import envelope
from sentry_mirror.core.summary import record_title
from tests.conformance.clients import (
    JS_DIR,
    NODE_MODULES,
    header,
    installed_version,
    need_chromium,
    need_node,
    run,
    serve_directory,
)


@pytest.fixture
async def page_server(tmp_path: Path) -> AsyncIterator[str]:
    """The test page and its esbuild bundle, served from their own loopback port."""
    need_node("@sentry/browser", "esbuild", "playwright-core")
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_bytes((JS_DIR / "index.html").read_bytes())
    subprocess.run(
        [
            str(NODE_MODULES / ".bin" / "esbuild"),
            "browser_app.js",
            "--bundle",
            "--format=iife",
            "--target=es2020",
            f"--outfile={site / 'app.js'}",
            "--log-level=warning",
        ],
        cwd=JS_DIR,
        check=True,
        timeout=60,
    )
    origin, runner = await serve_directory(site)
    try:
        yield origin
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("variant", ["direct", "cors", "tunnel"])
async def test_browser_sdk_traffic_is_recorded(mirror: Any, page_server: str, tmp_path: Path, variant: str) -> None:
    chromium = need_chromium()
    node = need_node("playwright-core")
    version = installed_version("@sentry/browser")
    dsn = mirror.dsn()
    tunnel = mirror.url + "/tunnel"
    url = f"{page_server}/index.html?variant={variant}&dsn={quote(dsn, safe='')}&tunnel={quote(tunnel, safe='')}"
    report_path = tmp_path / "report.json"
    ran = await run([node, "browser_driver.js", chromium, str(tmp_path / "profile"), url, str(report_path)], timeout=60)
    assert 0 == ran.returncode, ran.stderr
    browser = json.loads(report_path.read_text())
    page = browser["page"]
    assert "error" not in page, page

    # The page saw success: no console error or warning, only the two errors it meant to
    # leave uncaught, no failed request, nothing dropped, every answer 200 and readable
    # (a cross-origin answer without Access-Control-Allow-Origin would fail the fetch).
    assert [] == [c for c in browser["console"] if c[0] not in ("log", "info", "debug")]
    assert ["uncaught in a timer", "payment promise rejected"] == browser["page_errors"]
    assert [] == browser["failed_requests"]
    assert {"127.0.0.1"} == {urlsplit(u).hostname for _, u in browser["requests"]}
    assert page["flushed"] is True
    assert [] == page["dropped"]
    assert [] == page["transport_errors"]
    assert [] == [r for r in page["requests"] if "error" in r]
    assert {200} == {r["status"] for r in page["requests"]}
    assert Counter({"event": 4, "feedback": 1}) == Counter(t for _, t, _ in page["sent_events"])
    assert {200} == {status for _, _, status in page["sent_events"]}

    # Every POST the SDK made is in the snapshot, byte-exact, with the answer it read.
    records = mirror.records()
    posts = [r for r in records if r.data["method"] == "POST"]
    preflights = [r for r in records if r.data["method"] == "OPTIONS"]
    assert len(records) == len(posts) + len(preflights)
    sent = [(base64.b64decode(r["body_base64"]), r) for r in page["requests"]]
    assert Counter(body for body, _ in sent) == Counter(r.body for r in posts)
    by_body = {r.body: r for r in posts}
    for body, request in sent:
        record = by_body[body]
        assert 200 == record.status
        assert request["response_body"] == record.data["response"]["body"]
        assert record.data["error"] is None and [] == record.data["notes"]
        assert page["origin"] == header(record.data["headers"], "origin")
        assert page["origin"] + "/" == header(record.data["headers"], "referer")  # referrerPolicy strict-origin
        content_type = header(record.data["headers"], "content-type")
        assert ("text/plain;charset=UTF-8" if request["body_is_string"] else None) == content_type
        assert record.data["content_encoding"] is None
        assert "*" == header(record.data["response"]["headers"], "access-control-allow-origin")
        parsed = envelope.parse(body)
        if variant == "tunnel":
            assert tunnel == request["url"]
            assert ("tunnel", "/tunnel", "") == (record.data["endpoint"], record.data["path"], record.data["query"])
            assert {"form": "envelope-dsn", "public_key": "mirror", "dsn": dsn}.items() <= record.data["auth"].items()
            assert dsn == parsed.headers["dsn"]
        else:
            assert "envelope" == record.data["endpoint"]
            assert {"form": "query", "public_key": "mirror"}.items() <= record.data["auth"].items()
            assert f"sentry.javascript.browser/{version}" == record.data["auth"]["sentry_client"]
            assert "dsn" not in parsed.headers
        assert "1" == record.data["project_id"]
        if variant == "cors":
            assert "sentry-mirror-conformance" == header(record.data["headers"], "x-requested-with")

    # A custom header makes chromium ask first; the preflight is answered as Relay does.
    if variant == "cors":
        assert preflights
        for preflight in preflights:
            assert 200 == preflight.status
            assert "POST" == header(preflight.data["headers"], "access-control-request-method")
            assert "x-requested-with" == header(preflight.data["headers"], "access-control-request-headers")
            answer = preflight.data["response"]["headers"]
            assert "*" == header(answer, "access-control-allow-origin")
            assert "x-requested-with" in (header(answer, "access-control-allow-headers") or "").split(", ")
    else:
        assert [] == preflights

    # Every id the SDK reported is in the snapshot, answered with itself.
    recorded_ids = {r.event_id for r in posts} - {None}
    assert set(page["event_ids"].values()) <= recorded_ids
    assert {event_id for event_id, _, _ in page["sent_events"]} == recorded_ids
    for record in posts:
        if record.event_id:
            assert {"id": record.event_id} == json.loads(record.data["response"]["body"])

    # What was sent.
    titles = {record_title(r.data) for r in posts}
    assert {
        "Error: uncaught in a timer",
        "Error: payment promise rejected",
        "TypeError: Cannot read properties of null (reading 'total')",
        "payment provider slow: 2300 ms",
    } <= titles
    items = [item for r in posts for item in envelope.parse(r.body).items]
    assert ["state.bin"] == [item.headers["filename"] for item in items if item.type == "attachment"]
    assert b"\x00\x01bin\xff\n\r\n" == next(item.payload for item in items if item.type == "attachment")
    events = [item.json() for item in items if item.type == "event"]
    message = next(event for event in events if event.get("message") == "payment provider slow: 2300 ms")
    categories = [crumb.get("category") for crumb in message["breadcrumbs"]]
    for expected in ("cart", "console", "ui.click"):
        assert expected in categories
    feedback = next(item.json() for item in items if item.type == "feedback")
    assert page["event_ids"]["feedback"] == feedback["event_id"]
    assert {"message": "The pay button does nothing", "name": "Ada", "contact_email": "ada@example.com"}.items() <= (
        feedback["contexts"]["feedback"].items()
    )
    assert "session" in {item.type for item in items}
