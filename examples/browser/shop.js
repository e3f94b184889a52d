// The shop of examples/python_shop.py as a web page, with the real @sentry/browser.
//
//   index.html?dsn=<the DSN printed by `sentry-mirror listen`>
//
// run.py bundles this file (esbuild, @sentry/browser from tests/conformance/js/node_modules),
// serves the page from its own loopback port and opens it in headless chromium. The page
// leaves breadcrumbs (a manual one, a console message, a click), lets an error thrown in a
// click handler go uncaught, captures a handled error and sends a message with numbers in
// it; the SDK sends the page's session too ("ok", then "unhandled"). window.shop resolves
// when everything has been sent, to what the SDK said it did.
import * as Sentry from "@sentry/browser";

const dsn = new URLSearchParams(location.search).get("dsn");
const result = { sdk: Sentry.SDK_VERSION, dsn, sent: [], dropped: [] };

Sentry.init({ dsn, release: "shop-web@1.4.2", environment: "example" });
Sentry.setUser({ id: "42", email: "jane@example.com" });
Sentry.setTag("region", "eu-west");
const client = Sentry.getClient();
// The SDK starts a session at init and sends it once the page is idle; main() waits for
// that, so the session goes out "ok" before the errors (which then mark it "unhandled").
let sessionSent = false;
client.on("beforeEnvelope", (envelope) => {
  if (envelope[1].some(([item]) => item.type === "session")) sessionSent = true;
});
client.on("afterSendEvent", (event, response) => {
  result.sent.push([event.event_id, event.type || "event", response ? response.statusCode : null]);
});
const recordDroppedEvent = client.recordDroppedEvent.bind(client);
client.recordDroppedEvent = (reason, category, quantity) => {
  result.dropped.push([reason, category, quantity ?? 1]);
  return recordDroppedEvent(reason, category, quantity);
};

class PaymentDeclined extends Error {
  constructor(message) {
    super(message);
    this.name = "PaymentDeclined";
  }
}

const baskets = { 1: { items: ["apple", "pear"] } };

function renderTotal(basket) {
  return `${basket.items.length} items`; // TypeError when the basket is not loaded
}

function charge(amountCents, card) {
  if (card.endsWith("0000")) {
    throw new PaymentDeclined(`card ending ${card.slice(-4)} declined for ${amountCents} cents`);
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(done, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await sleep(20);
}

async function main() {
  await until(() => sessionSent, 5000);
  Sentry.addBreadcrumb({ category: "cart", message: "user opened basket 1", level: "info" });
  console.log(`basket 1 has ${renderTotal(baskets[1])}`); // a console breadcrumb

  // An uncaught error: the click handler throws (the click is a ui.click breadcrumb).
  document.getElementById("pay").addEventListener("click", () => {
    document.title = renderTotal(baskets[2]);
  });
  document.getElementById("pay").click();
  await sleep(50);

  // A handled error, and a message with numbers in it.
  try {
    charge(2500, "4111111111110000");
  } catch (error) {
    Sentry.captureException(error);
  }
  Sentry.captureMessage("payment provider slow: 2300 ms for order 1001", "warning");

  await until(() => result.sent.length >= 3, 10000);
  result.flushed = await Sentry.flush(10000);
  return result;
}

window.shop = new Promise((resolve) => {
  window.addEventListener("load", () => main().then(resolve, (error) => resolve({ ...result, error: String(error) })));
});
