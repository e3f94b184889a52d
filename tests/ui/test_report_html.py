"""The HTML report in real headless Chromium: it renders every section, logs no console
error, fetches nothing, and leaves a screenshot in test-artifacts/ (gitignored).

Chromium is Debian's ``chromium``, driven by playwright-core from
``tests/conformance/js/node_modules`` (``npm ci --prefix tests/conformance/js``). Outside
CI a missing piece skips the test; with ``CI=true`` it fails.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from click.testing import CliRunner

from sentry_mirror.ui.cli import cli
from tests.conformance.clients import JS_DIR, need_chromium, need_node

ROOT = Path(__file__).resolve().parent.parent.parent
SNAPSHOTS = ROOT / "snapshots"
ARTIFACTS = ROOT / "test-artifacts"

DRIVER = r"""
"use strict";
const fs = require("node:fs");
const { chromium } = require("playwright-core");
const [executablePath, userDataDir, pageUrl, screenshot, reportPath] = process.argv.slice(2);
(async () => {
  const out = { console: [], page_errors: [], requests: [], failed_requests: [] };
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath, headless: true, chromiumSandbox: false, timeout: 30000,
    viewport: { width: 1400, height: 1000 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--no-proxy-server", "--host-resolver-rules=MAP * ~NOTFOUND"],
  });
  try {
    const page = context.pages()[0] || (await context.newPage());
    page.on("console", (m) => out.console.push([m.type(), m.text()]));
    page.on("pageerror", (e) => out.page_errors.push(e.message));
    context.on("request", (r) => out.requests.push(r.url()));
    context.on("requestfailed", (r) => out.failed_requests.push(r.url()));
    await page.goto(pageUrl, { waitUntil: "load", timeout: 20000 });
    out.dom = await page.evaluate(() => ({
      title: document.title,
      sections: [...document.querySelectorAll("section")].map((s) => ({
        id: s.id,
        heading: s.querySelector("h2").textContent,
        height: s.getBoundingClientRect().height,
        tables: s.querySelectorAll("table").length,
        charts: s.querySelectorAll("svg rect.bar").length,
      })),
      stylesheetRules: [...document.styleSheets].reduce((n, s) => n + s.cssRules.length, 0),
      bodyFont: getComputedStyle(document.body).fontFamily,
    }));
    await page.screenshot({ path: screenshot, fullPage: true });
  } finally {
    await context.close();
  }
  fs.writeFileSync(reportPath, JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
"""


def test_html_report_in_chromium(tmp_path: Path) -> None:
    chromium = need_chromium()
    node = need_node("playwright-core")
    page = tmp_path / "report.html"
    result = CliRunner().invoke(
        cli, ["report", str(SNAPSHOTS), "--format", "html", "-o", str(page)], env={"COLUMNS": "200", "NO_COLOR": "1"}
    )
    assert 0 == result.exit_code, result.output
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "report.png"
    driver = tmp_path / "driver.js"
    driver.write_text(DRIVER)
    report_path = tmp_path / "browser.json"
    env = {**os.environ, "NODE_PATH": str(JS_DIR / "node_modules")}
    ran = subprocess.run(
        [node, str(driver), chromium, str(tmp_path / "profile"), page.as_uri(), str(screenshot), str(report_path)],
        check=False, capture_output=True, text=True, timeout=90, env=env, cwd=JS_DIR,
    )  # fmt: skip
    assert 0 == ran.returncode, ran.stderr
    browser = json.loads(report_path.read_text())
    assert [] == [c for c in browser["console"] if c[0] in ("error", "warning")]
    assert [] == browser["page_errors"] and [] == browser["failed_requests"]
    assert [page.as_uri()] == browser["requests"]  # the page itself, nothing fetched
    dom = browser["dom"]
    assert dom["title"].startswith("sentry-mirror report")
    assert [
        "1. Traffic",
        "2. Field coverage",
        "3. Issues",
        "4. Performance data",
        "5. Release health and monitors",
        "6. What the SDKs dropped",
        "7. Personal data",
        "8. Source maps and releases",
        "9. What a server must support",
    ] == [s["heading"] for s in dom["sections"]]
    assert all(s["height"] > 40 for s in dom["sections"])
    by_id = {s["id"]: s for s in dom["sections"]}
    assert by_id["traffic"]["charts"] >= 6 and by_id["traffic"]["tables"] >= 8
    assert by_id["issues"]["tables"] == 1 and by_id["pii"]["tables"] == 1
    assert dom["stylesheetRules"] > 10 and "system-ui" in dom["bodyFont"]
    assert screenshot.stat().st_size > 10_000
