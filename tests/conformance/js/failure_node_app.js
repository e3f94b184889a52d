// The real @sentry/node after a failure answer; run by tests/conformance/test_failure_answers.py.
//
//   node failure_node_app.js <dsn> <wait seconds> <report.json>
//
// Three phases, each ending with Sentry.flush: (1) one error; (2) at once, an error and a
// transaction; (3) after <wait> seconds, an error and a transaction. Then Sentry.close.
// Transactions are classic ones (traceLifecycle "static"), so rate limits on the
// `transaction` category apply to them. The report holds each phase's start time, the ids
// the SDK gave its error and transaction; what the SDK dropped is in the client reports it
// sends (the test reads them on the wire).
"use strict";

const fs = require("node:fs");
const Sentry = require("@sentry/node");

const [dsn, wait, reportPath] = process.argv.slice(2);
if (!dsn || !wait || !reportPath) {
  console.error("usage: node failure_node_app.js <dsn> <wait seconds> <report.json>");
  process.exit(2);
}

const transactions = {};
Sentry.init({
  dsn,
  release: "shop@1.4.2",
  environment: "test",
  tracesSampleRate: 1.0,
  traceLifecycle: "static",
  beforeSendTransaction(event) {
    transactions[event.transaction] = event.event_id;
    return event;
  },
});

const report = { sdk: Sentry.SDK_VERSION, phases: [] };

async function phase(name, withTransaction) {
  const at = Date.now() / 1000;
  const error = Sentry.captureException(new Error(`${name} error`));
  if (withTransaction) {
    Sentry.startSpan({ name: `GET /${name}`, op: "http.server" }, () => {
      Sentry.startSpan({ name: "SELECT 1", op: "db.query" }, () => {});
    });
  }
  await Sentry.flush(5000);
  report.phases.push({ name, at, error, transaction: transactions[`GET /${name}`] ?? null });
}

async function main() {
  await phase("first", false);
  await phase("second", true);
  await new Promise((resolve) => setTimeout(resolve, Number(wait) * 1000));
  await phase("third", true);
  report.closed = await Sentry.close(5000);
  fs.writeFileSync(reportPath, JSON.stringify(report, null, 1));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
