// The real @sentry/browser after a failure answer (bundled with esbuild by
// tests/conformance/test_failure_answers.py, opened by failure_browser_driver.js).
//
// failure.html?dsn=<dsn>&wait=<seconds>
//
// The same three phases as failure_node_app.js, each ending with Sentry.flush: (1) one
// error; (2) at once, an error and a transaction; (3) after <wait> seconds, an error and a
// transaction. Transactions are classic ones (traceLifecycle "static"). window.conformance
// resolves to each phase's start time and the ids the SDK gave its error and transaction,
// and the IndexedDB databases and storage the page holds at the end (an offline transport
// would keep envelopes there). The SDK sends its client reports when the page is hidden:
// the driver navigates away for that.
import * as Sentry from "@sentry/browser";

const params = new URLSearchParams(location.search);
const transactions = {};
Sentry.init({
  dsn: params.get("dsn"),
  release: "shop-web@1.4.2",
  environment: "test",
  tracesSampleRate: 1.0,
  traceLifecycle: "static",
  beforeSendTransaction(event) {
    transactions[event.transaction] = event.event_id;
    return event;
  },
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function phase(name, withTransaction) {
  const at = Date.now() / 1000;
  const error = Sentry.captureException(new Error(`${name} error`));
  if (withTransaction) {
    Sentry.startSpan({ name: `GET /${name}`, op: "http.server" }, () => {
      Sentry.startSpan({ name: "SELECT 1", op: "db.query" }, () => {});
    });
  }
  await Sentry.flush(5000);
  return { name, at, error, transaction: transactions[`GET /${name}`] ?? null };
}

async function main() {
  const report = { sdk: Sentry.SDK_VERSION, phases: [] };
  report.phases.push(await phase("first", false));
  report.phases.push(await phase("second", true));
  await sleep(Number(params.get("wait")) * 1000);
  report.phases.push(await phase("third", true));
  report.indexeddb = (await indexedDB.databases()).map((db) => db.name);
  report.storage = [localStorage.length, sessionStorage.length];
  return report;
}

window.conformance = new Promise((resolve) => {
  window.addEventListener("load", () => main().then(resolve, (error) => resolve({ error: String(error) })));
});
