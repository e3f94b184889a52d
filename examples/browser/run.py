"""Open the shop page (examples/browser/) in headless chromium, sending to SENTRY_DSN.

    SENTRY_DSN=http://mirror@127.0.0.1:9001/1 python examples/browser/run.py

Bundles ``shop.js`` with the real @sentry/browser (esbuild; both from
``tests/conformance/js/node_modules``, installed by ``npm ci --prefix tests/conformance/js``),
serves the page from its own port on 127.0.0.1 (aiohttp), so every send is a cross-origin
``fetch``, and opens it with the conformance tests' browser driver
(``tests/conformance/js/browser_driver.js``: playwright-core driving the system
``chromium``, fresh profile, loopback only). The page leaves breadcrumbs, an uncaught error, a handled
error and a message. Exits 0 when the SDK says everything was sent and answered 200.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE.parent.parent / "tests" / "conformance" / "js" / "node_modules"
DRIVER = HERE.parent.parent / "tests" / "conformance" / "js" / "browser_driver.js"
NPM_CI = "npm ci --prefix tests/conformance/js"
#: What the page sends, as the SDK reports it (afterSendEvent): uncaught, handled, message.
EXPECTED_EVENTS = 3


def missing() -> str | None:
    """What is not installed, with how to install it; None when everything is."""
    if shutil.which("node") is None:
        return f"node is not installed; install node 20.19 or newer, then {NPM_CI}"
    if chromium() is None:
        return "chromium is not installed; install it with: apt-get install -y chromium"
    for package in ("@sentry/browser", "esbuild", "playwright-core"):
        if not (NODE_MODULES / package / "package.json").is_file():
            return f"the npm package {package} is not installed; install it with: {NPM_CI}"
    return None


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def bundle(site: Path) -> None:
    """The page and shop.js bundled with @sentry/browser into ``site``."""
    shutil.copyfile(HERE / "index.html", site / "index.html")
    subprocess.run(
        [
            str(NODE_MODULES / ".bin" / "esbuild"),
            str(HERE / "shop.js"),
            "--bundle",
            "--format=iife",
            "--target=es2020",
            f"--outfile={site / 'shop.bundle.js'}",
            "--log-level=warning",
        ],
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},  # where esbuild finds @sentry/browser
        check=True,
        timeout=60,
    )


async def open_page(dsn: str, workdir: Path) -> dict[str, Any]:
    """Serve the bundled page on 127.0.0.1 and open it; the driver's report."""
    site = workdir / "site"
    site.mkdir()
    bundle(site)
    app = web.Application()
    app.router.add_static("/", site)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        url = f"http://127.0.0.1:{port}/index.html?dsn={quote(dsn, safe='')}"
        report = workdir / "report.json"
        proc = await asyncio.create_subprocess_exec(
            "node",
            str(DRIVER),
            str(chromium()),
            str(workdir / "profile"),
            url,
            str(report),
            "shop",
            stdin=subprocess.DEVNULL,
        )
        await asyncio.wait_for(proc.wait(), 90)
        if proc.returncode != 0:
            raise SystemExit(f"the browser driver failed (exit {proc.returncode})")
        return dict(json.loads(report.read_text()))
    finally:
        await runner.cleanup()


def problems(report: dict[str, Any]) -> list[str]:
    """What went wrong, as the page and the browser saw it (empty: all sent, all 200)."""
    shop = report.get("page") or {}
    found = []
    if "error" in shop:
        found.append(f"the page failed: {shop['error']}")
    if shop.get("flushed") is not True:
        found.append("the SDK did not flush everything")
    if shop.get("dropped"):
        found.append(f"the SDK dropped: {shop['dropped']}")
    if len(shop.get("sent", [])) != EXPECTED_EVENTS or {s for _, _, s in shop["sent"]} != {200}:
        found.append(f"sent, with the answers: {shop.get('sent')}")
    found += [f"request failed: {' '.join(map(str, r))}" for r in report["failed_requests"]]
    found += [f"console {kind}: {text}" for kind, text in report["console"] if kind in ("error", "warning")]
    return found


def main() -> int:
    dsn = os.environ.get("SENTRY_DSN")
    if not dsn:
        print("set SENTRY_DSN to the DSN printed by `sentry-mirror listen`", file=sys.stderr)
        return 2
    if urlsplit(dsn).hostname != "127.0.0.1":
        print("the browser may only reach 127.0.0.1: use a DSN like http://mirror@127.0.0.1:9001/1", file=sys.stderr)
        return 2
    why = missing()
    if why:
        print(why, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="sentry-mirror-browser-") as tmp:
        report = asyncio.run(open_page(dsn, Path(tmp)))
    shop = report.get("page") or {}
    print(f"@sentry/browser {shop.get('sdk')}: page errors (uncaught, as intended): {report['page_errors']}")
    for event_id, kind, status in shop.get("sent", []):
        print(f"  sent {kind} {event_id}: {status}")
    found = problems(report)
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
