// Open a page in Debian's chromium through playwright-core and report what happened.
//
//   node browser_driver.js <chromium> <user-data-dir> <page-url> <report.json> [page global]
//
// The page's own report is the value (awaited) of window[page global], "conformance" by
// default; examples/browser/run.py uses this driver too, with "shop".
//
// Chromium is the system one (executablePath; no browser download), headless, with a fresh
// profile, and may only reach loopback: every host name resolves to nothing, and background
// networking, component updates, sync and QUIC are off. The report holds the page's own
// report (window.conformance), console messages, page errors, and every request the
// browser made with its outcome.
"use strict";

const fs = require("node:fs");
const { chromium } = require("playwright-core");

const [executablePath, userDataDir, pageUrl, reportPath, pageGlobal = "conformance"] = process.argv.slice(2);
if (!reportPath) {
  console.error("usage: node browser_driver.js <chromium> <user-data-dir> <page-url> <report.json> [page global]");
  process.exit(2);
}

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-domain-reliability",
  "--no-proxy-server",
  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
];

async function main() {
  const out = { console: [], page_errors: [], requests: [], failed_requests: [] };
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    chromiumSandbox: false,
    args: FLAGS,
    timeout: 30000,
  });
  try {
    const page = context.pages()[0] || (await context.newPage());
    page.on("console", (message) => out.console.push([message.type(), message.text()]));
    page.on("pageerror", (error) => out.page_errors.push(error.message));
    context.on("request", (request) => out.requests.push([request.method(), request.url()]));
    context.on("requestfailed", (request) =>
      out.failed_requests.push([request.method(), request.url(), request.failure() && request.failure().errorText]),
    );
    await page.goto(pageUrl, { waitUntil: "load", timeout: 20000 });
    out.page = await page.evaluate((name) => window[name], pageGlobal);
  } finally {
    await context.close();
  }
  fs.writeFileSync(reportPath, JSON.stringify(out, null, 1));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
