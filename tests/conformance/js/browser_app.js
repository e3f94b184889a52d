// A browser page using the real @sentry/browser (bundled with esbuild by the test).
//
// index.html?dsn=<dsn>&variant=direct|cors|tunnel[&tunnel=<url>]
//
// The SDK's own fetch transport sends everything; it is given window.fetch wrapped (its
// second argument, `nativeFetch`) so that each request's URL, options and body bytes, and
// each response's status, CORS-visible headers and body are recorded. window.conformance
// resolves to a report: the ids the SDK returned, the events the client says it sent
// (afterSendEvent) with the transport's answer, dropped events, transport errors.
import * as Sentry from "@sentry/browser";

const params = new URLSearchParams(location.search);
const variant = params.get("variant");

const report = {
  sdk: { name: "sentry.javascript.browser", version: Sentry.SDK_VERSION },
  variant,
  origin: location.origin,
  requests: [],
  event_ids: {},
  sent_events: [],
  dropped: [],
  transport_errors: [],
};

const nativeFetch = window.fetch.bind(window);
function bytesToBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}
async function recordingFetch(url, init) {
  const body = typeof init.body === "string" ? new TextEncoder().encode(init.body) : new Uint8Array(init.body);
  const entry = {
    url: String(url),
    method: init.method,
    headers: init.headers || {},
    keepalive: init.keepalive,
    referrer_policy: init.referrerPolicy,
    body_is_string: typeof init.body === "string",
    body_base64: bytesToBase64(body),
  };
  report.requests.push(entry);
  try {
    const response = await nativeFetch(url, init);
    entry.status = response.status;
    entry.response_headers = Object.fromEntries(response.headers.entries());
    entry.response_body = await response.clone().text();
    return response;
  } catch (error) {
    entry.error = String(error);
    throw error;
  }
}

function transport(options) {
  const inner = Sentry.makeFetchTransport(options, recordingFetch);
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

const options = {
  dsn: params.get("dsn"),
  transport,
  release: "shop-web@1.4.2",
  environment: "test",
  debug: params.get("debug") === "1",
};
if (variant === "cors") {
  // Not CORS-safelisted: the browser sends a preflight (OPTIONS) first. The header is one
  // of those Relay allows (Access-Control-Allow-Headers), so the real Sentry accepts it too.
  options.transportOptions = { headers: { "X-Requested-With": "sentry-mirror-conformance" } };
} else if (variant === "tunnel") {
  options.tunnel = params.get("tunnel");
}
Sentry.init(options);

const client = Sentry.getClient();
client.on("afterSendEvent", (event, response) => {
  report.sent_events.push([event.event_id, event.type || "event", response ? response.statusCode : null]);
});
const recordDroppedEvent = client.recordDroppedEvent.bind(client);
client.recordDroppedEvent = (reason, category, quantity) => {
  report.dropped.push([reason, category, quantity ?? 1]);
  return recordDroppedEvent(reason, category, quantity);
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitForEvents(count, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (report.sent_events.length < count && Date.now() < deadline) await sleep(20);
}

async function main() {
  Sentry.setUser({ id: "u-42", email: "ada@example.com" });
  Sentry.addBreadcrumb({ category: "cart", message: "added A-1 to the basket", level: "info" });
  console.log("checkout started"); // a console breadcrumb
  document.getElementById("pay").click(); // a ui.click breadcrumb

  // An uncaught error and an unhandled rejection. Apart: after the SDK's timer wrapper
  // reports an error it ignores global errors and rejections until the next timer tick.
  setTimeout(() => {
    throw new Error("uncaught in a timer");
  });
  await sleep(50);
  Promise.reject(new Error("payment promise rejected"));
  await sleep(50);

  // A handled error with a binary attachment (the body becomes a Uint8Array).
  Sentry.withScope((scope) => {
    scope.addAttachment({ filename: "state.bin", data: new Uint8Array([0, 1, 98, 105, 110, 255, 10, 13, 10]) });
    try {
      null.total; // eslint-disable-line no-unused-expressions
    } catch (error) {
      report.event_ids.handled = Sentry.captureException(error);
    }
  });
  report.event_ids.message = Sentry.captureMessage("payment provider slow: 2300 ms", "warning");
  report.event_ids.feedback = Sentry.captureFeedback({
    message: "The pay button does nothing",
    name: "Ada",
    email: "ada@example.com",
  });

  await waitForEvents(5, 10000);
  report.flushed = await Sentry.flush(10000);
  return report;
}

window.conformance = new Promise((resolve) => {
  window.addEventListener("load", () => main().then(resolve, (error) => resolve({ error: String(error), report })));
});
