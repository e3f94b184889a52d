// Open one page per URL, at the same time, in Debian's chromium through playwright-core.
//
//   node failure_browser_driver.js <chromium> <user-data-dir> <report.json> <page-url>...
//
// Chromium is set up as in browser_driver.js (system binary, headless, fresh profile, only
// loopback). Each page's report is the value (awaited) of window.conformance. Then every
// page navigates to about:blank, which hides it: @sentry/browser sends its client reports
// then (with fetch keepalive), and the driver waits a second for them before it closes
// the browser. The report holds, per URL, the page's report, console messages, page
// errors and failed requests.
"use strict";

const fs = require("node:fs");
const { chromium } = require("playwright-core");

const [executablePath, userDataDir, reportPath, ...pageUrls] = process.argv.slice(2);
if (!pageUrls.length) {
  console.error("usage: node failure_browser_driver.js <chromium> <user-data-dir> <report.json> <page-url>...");
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

async function visit(context, url) {
  const out = { url, console: [], page_errors: [], failed_requests: [] };
  const page = await context.newPage();
  page.on("console", (message) => out.console.push([message.type(), message.text()]));
  page.on("pageerror", (error) => out.page_errors.push(error.message));
  page.on("requestfailed", (request) =>
    out.failed_requests.push([request.method(), request.url(), request.failure() && request.failure().errorText]),
  );
  await page.goto(url, { waitUntil: "load", timeout: 20000 });
  out.page = await page.evaluate(() => window.conformance);
  await page.goto("about:blank", { timeout: 20000 });
  return out;
}

async function main() {
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    chromiumSandbox: false,
    args: FLAGS,
    timeout: 30000,
  });
  let pages;
  try {
    pages = await Promise.all(pageUrls.map((url) => visit(context, url)));
    await new Promise((resolve) => setTimeout(resolve, 1000));
  } finally {
    await context.close();
  }
  fs.writeFileSync(reportPath, JSON.stringify(pages, null, 1));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
