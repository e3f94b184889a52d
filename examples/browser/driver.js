// Open the shop page in Debian's headless chromium (through playwright-core) and print
// what it reported, as JSON, on stdout.
//
//   node examples/browser/driver.js <chromium> <fresh-user-data-dir> <page-url>
//
// playwright-core comes from tests/conformance/js/node_modules (no npm install here) and
// drives the system chromium by executablePath: no browser is downloaded. Chromium gets a
// fresh profile and may only reach loopback: every other host name resolves to nothing,
// and background networking, component updates, sync and QUIC are off.
"use strict";

const path = require("node:path");
const { createRequire } = require("node:module");

const { chromium } = createRequire(path.join(__dirname, "..", "..", "tests", "conformance", "js", "package.json"))(
  "playwright-core",
);

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-proxy-server",
  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
];

async function main(executablePath, userDataDir, pageUrl) {
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
    out.shop = await page.evaluate(() => window.shop);
  } finally {
    await context.close();
  }
  return out;
}

const args = process.argv.slice(2);
if (args.length !== 3) {
  console.error("usage: node examples/browser/driver.js <chromium> <fresh-user-data-dir> <page-url>");
  process.exit(2);
}
main(...args).then(
  (out) => process.stdout.write(JSON.stringify(out) + "\n"),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
