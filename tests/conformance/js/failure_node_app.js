// The real @sentry/node after a failure answer; run by tests/conformance/test_failure_answers.py.
//
//   node failure_node_app.js <dsn> <wait seconds> <report.json> [static|stream]
//
// Three phases, each ending with Sentry.flush: (1) one error; (2) at once, an error and a
// transaction; (3) after <wait> seconds, an error and a transaction. Then Sentry.close.
// Traces are classic transactions (traceLifecycle "static", the default here), or, with
// "stream", the SDK's own default: the root span and its child as `span` items. The
// report holds each phase's start time and the ids the SDK gave its error, transaction
// and root span; what the SDK dropped is in the client reports it sends (the test reads
// them on the wire).
"use strict";

const fs = require("node:fs");
const Sentry = require("@sentry/node");

const [dsn, wait, reportPath, lifecycle = "static"] = process.argv.slice(2);
if (!dsn || !wait || !reportPath || !["static", "stream"].includes(lifecycle)) {
  console.error("usage: node failure_node_app.js <dsn> <wait seconds> <report.json> [static|stream]");
  process.exit(2);
}

const transactions = {};
const rootSpans = {};
Sentry.init({
  dsn,
  release: "shop@1.4.2",
  environment: "test",
  tracesSampleRate: 1.0,
  traceLifecycle: lifecycle,
  // (ignored, with a warning, when spans stream)
  ...(lifecycle === "static" && {
    beforeSendTransaction(event) {
      transactions[event.transaction] = event.event_id;
      return event;
    },
  }),
});

const report = { sdk: Sentry.SDK_VERSION, phases: [] };

async function phase(name, withTransaction) {
  const at = Date.now() / 1000;
  const error = Sentry.captureException(new Error(`${name} error`));
  if (withTransaction) {
    Sentry.startSpan({ name: `GET /${name}`, op: "http.server" }, (root) => {
      rootSpans[name] = root.spanContext().spanId;
      Sentry.startSpan({ name: "SELECT 1", op: "db.query" }, () => {});
    });
  }
  await Sentry.flush(5000);
  const transaction = transactions[`GET /${name}`] ?? null;
  report.phases.push({ name, at, error, transaction, span: rootSpans[name] ?? null });
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
