// A small Node app using the real @sentry/node, pointed at a sentry-mirror listener.
//
//   node node_app.js <dsn> <stream|static> <report.json>
//
// The SDK's own transport (makeNodeTransport) sends everything. Its `httpModule` option is
// given node:http wrapped so that each request's method, path, headers and body bytes (as
// written to the socket, gzip'd when the SDK chose to) and each response's status and body
// are recorded. The report also lists the ids the app got back from the SDK, every event
// the client says it sent (afterSendEvent) with the transport's answer, every event the
// client dropped (recordDroppedEvent), and transport failures.
"use strict";

const fs = require("node:fs");
const http = require("node:http");
const Sentry = require("@sentry/node");

const [dsn, lifecycle, reportPath] = process.argv.slice(2);
if (!dsn || !["stream", "static"].includes(lifecycle) || !reportPath) {
  console.error("usage: node node_app.js <dsn> <stream|static> <report.json>");
  process.exit(2);
}

const report = {
  sdk: { name: "sentry.javascript.node", version: Sentry.SDK_VERSION },
  lifecycle,
  requests: [], // what went over the wire, and what came back
  event_ids: [], // ids the SDK returned to the app (captureException, captureMessage, ...)
  sent_events: [], // afterSendEvent: [event_id, type, transport status]
  check_in_ids: [],
  span_ids: [],
  dropped: [], // recordDroppedEvent calls: [reason, category, quantity]
  transport_errors: [],
};

// node:http, recording every request the transport makes through it.
const recordingHttp = {
  ...http,
  request(options, callback) {
    const entry = { method: options.method, path: options.path, headers: options.headers, chunks: [] };
    report.requests.push(entry);
    const req = http.request(options, (res) => {
      const body = [];
      res.on("data", (chunk) => body.push(Buffer.from(chunk)));
      res.on("end", () => {
        entry.status = res.statusCode;
        entry.response_headers = res.headers;
        entry.response_body = Buffer.concat(body).toString("utf8");
      });
      callback(res);
    });
    const write = req.write.bind(req);
    req.write = (chunk, ...rest) => {
      entry.chunks.push(Buffer.from(chunk));
      return write(chunk, ...rest);
    };
    const end = req.end.bind(req);
    req.end = (chunk, ...rest) => {
      if (chunk && typeof chunk !== "function") entry.chunks.push(Buffer.from(chunk));
      return end(chunk, ...rest);
    };
    req.on("error", (error) => (entry.error = String(error)));
    return req;
  },
};

function transport(options) {
  const inner = Sentry.makeNodeTransport({ ...options, httpModule: recordingHttp });
  return {
    send(envelope) {
      return inner.send(envelope).catch((error) => {
        report.transport_errors.push(String(error));
        throw error;
      });
    },
    flush: (timeout) => inner.flush(timeout),
  };
}

Sentry.init({
  dsn,
  transport,
  release: "shop@1.4.2",
  environment: "test",
  tracesSampleRate: 1.0,
  traceLifecycle: lifecycle,
  enableLogs: true,
  debug: false,
});

const client = Sentry.getClient();
client.on("afterSendEvent", (event, response) => {
  report.sent_events.push([event.event_id, event.type || "event", response ? response.statusCode : null]);
});
const recordDroppedEvent = client.recordDroppedEvent.bind(client);
client.recordDroppedEvent = (reason, category, quantity) => {
  report.dropped.push([reason, category, quantity ?? 1]);
  return recordDroppedEvent(reason, category, quantity);
};

function loadBasket() {
  try {
    JSON.parse("{not json");
  } catch (cause) {
    throw new Error("could not load the basket", { cause });
  }
}

async function main() {
  // An error with a cause (two exceptions in the event), and a message.
  try {
    loadBasket();
  } catch (error) {
    report.event_ids.push(Sentry.captureException(error));
  }
  report.event_ids.push(Sentry.captureMessage("payment provider slow: 2300 ms", "warning"));

  // A handled error with attachments: one binary, one large enough (> 32 KiB) for gzip.
  Sentry.withScope((scope) => {
    scope.addAttachment({ filename: "state.bin", data: new Uint8Array([0, 1, 98, 105, 110, 255, 10, 13, 10]) });
    scope.addAttachment({ filename: "big.txt", data: "basket line\n".repeat(4000), contentType: "text/plain" });
    try {
      null.total; // eslint-disable-line no-unused-expressions
    } catch (error) {
      report.event_ids.push(Sentry.captureException(error));
    }
  });

  // Traces: a root span with two children (span items, or a transaction with "static").
  await Sentry.startSpan({ name: "GET /checkout", op: "http.server" }, async (root) => {
    report.span_ids.push(root.spanContext().spanId);
    Sentry.startSpan({ name: "SELECT * FROM basket", op: "db.query" }, (span) => {
      report.span_ids.push(span.spanContext().spanId);
    });
    await Sentry.startSpan({ name: "POST https://payments.example/charge", op: "http.client" }, async (span) => {
      report.span_ids.push(span.spanContext().spanId);
      await new Promise((resolve) => setTimeout(resolve, 5));
    });
  });

  // A session, a cron check-in, logs.
  Sentry.startSession();
  Sentry.captureSession();
  Sentry.endSession();
  report.check_in_ids.push(Sentry.captureCheckIn({ monitorSlug: "nightly-report", status: "ok", duration: 1.5 }));
  Sentry.logger.info(Sentry.logger.fmt`basket ${42} checked out`);
  Sentry.logger.warn("stock low", { sku: "A-1", left: 2 });

  const flushed = await Sentry.close(10000);
  report.flushed = flushed;
  for (const entry of report.requests) {
    entry.body_base64 = Buffer.concat(entry.chunks).toString("base64");
    delete entry.chunks;
  }
  fs.writeFileSync(reportPath, JSON.stringify(report, null, 1));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
