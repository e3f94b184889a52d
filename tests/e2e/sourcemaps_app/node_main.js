// The app under @sentry/node (bundled by esbuild with @sentry/node left external).
//
//   node app.min.js <dsn> <release or ""> <report.json>
//
// Checks out a cart holding an item without a price, captures the error, flushes, and
// writes {event_id, flushed} to the report.

import * as fs from "node:fs";
import * as Sentry from "@sentry/node";
import { checkout } from "./checkout.js";

function main(dsn, release) {
  Sentry.init({ dsn, release: release || undefined, environment: "e2e", defaultIntegrations: false });
  try {
    return { receipt: checkout([{ sku: "apple", quantity: 2 }, { sku: "plum", quantity: 1 }]) }; // frame:main
  } catch (error) {
    return { event_id: Sentry.captureException(error) };
  }
}

const [dsn, release, reportPath] = process.argv.slice(2);
const outcome = main(dsn, release); // frame:<top>
Sentry.flush(10000).then((flushed) => {
  fs.writeFileSync(reportPath, JSON.stringify({ ...outcome, flushed }));
});
