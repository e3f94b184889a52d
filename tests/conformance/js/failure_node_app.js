// The real @sentry/node after failure answers; run by tests/conformance/test_failure_answers.py
// and tests/conformance/test_scenarios.py.
//
//   node failure_node_app.js <dsn> <seconds> <report.json> [static|stream] [phases|steady]
//
// "phases" (the default): three phases, each ending with Sentry.flush: (1) one error; (2) at
// once, an error and a transaction; (3) after <seconds>, an error and a transaction.
// "steady": an error and a transaction, then Sentry.flush, every 0.2 s for <seconds>.
// Then Sentry.close. Traces are classic transactions (traceLifecycle "static", the
// default here), or, with "stream", the SDK's own default: the root span and its child as
// `span` items. The report holds each phase's (or tick's) start time and the ids the SDK
// gave its error, transaction and root span; what the SDK dropped is in the client
// reports it sends (the test reads them on the wire).
//
// With "-" as the DSN the app loads the SDK, prints "ready" and reads the DSN from stdin:
// the test starts its listener (whose scripted answers count from its start) only once
// the app is ready to send.
"use strict";

const fs = require("node:fs");
const readline = require("node:readline");
const Sentry = require("@sentry/node");

const [dsnArg, seconds, reportPath, lifecycle = "static", mode = "phases"] = process.argv.slice(2);
if (
  !dsnArg ||
  !seconds ||
  !reportPath ||
  !["static", "stream"].includes(lifecycle) ||
  !["phases", "steady"].includes(mode)
) {
  console.error("usage: node failure_node_app.js <dsn> <seconds> <report.json> [static|stream] [phases|steady]");
  process.exit(2);
}

const transactions = {};
const rootSpans = {};
const report = { sdk: Sentry.SDK_VERSION, phases: [] };

async function readDsn() {
  if (dsnArg !== "-") return dsnArg;
  process.stdout.write("ready\n");
  for await (const line of readline.createInterface({ input: process.stdin })) return line.trim();
  throw new Error("no DSN on stdin");
}

function init(dsn) {
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
}

const sleep = (s) => new Promise((resolve) => setTimeout(resolve, s * 1000));

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
  init(await readDsn());
  if (mode === "steady") {
    const end = Date.now() + Number(seconds) * 1000;
    while (Date.now() < end) {
      await phase(`tick${report.phases.length}`, true);
      await sleep(0.2);
    }
  } else {
    await phase("first", false);
    await phase("second", true);
    await sleep(Number(seconds));
    await phase("third", true);
  }
  report.closed = await Sentry.close(5000);
  fs.writeFileSync(reportPath, JSON.stringify(report, null, 1));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
