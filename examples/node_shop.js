// The shop of examples/python_shop.py, with the real @sentry/node.
//
//   SENTRY_DSN=http://mirror@127.0.0.1:9001/1 node examples/node_shop.js
//
// @sentry/node is the one the conformance tests pin: it is loaded from
// tests/conformance/js/node_modules (`npm ci --prefix tests/conformance/js` installs it), so
// the example needs no npm install of its own. Node 20.19 or newer.
//
// It throws several distinct errors (one twice from the same place, one from two lines of
// the same function), an error with a cause, messages with numbers and ids in them, a
// trace with child spans (sent, as @sentry/node does by default, as a stream of `span`
// items), a cron check-in, a session and logs.
"use strict";

const crypto = require("node:crypto");
const path = require("node:path");
const { createRequire } = require("node:module");

const requireFromConformance = createRequire(
  path.join(__dirname, "..", "tests", "conformance", "js", "package.json"),
);
let Sentry;
try {
  Sentry = requireFromConformance("@sentry/node");
} catch (error) {
  console.error("@sentry/node is not installed; run: npm ci --prefix tests/conformance/js");
  process.exit(2);
}

const BASKETS = new Map([
  [1, ["apple", "pear"]],
  [2, []],
]);

class BasketNotFound extends Error {
  constructor(basketId) {
    super(`basket ${basketId} not found`);
    this.name = "BasketNotFound";
  }
}

class PaymentDeclined extends Error {
  constructor(message) {
    super(message);
    this.name = "PaymentDeclined";
  }
}

function loadBasket(basketId) {
  if (!BASKETS.has(basketId)) throw new BasketNotFound(basketId); // for unknown baskets
  return BASKETS.get(basketId);
}

function cheapestItem(basketId) {
  // TypeError for empty baskets: "Reduce of empty array with no initial value"
  return loadBasket(basketId).reduce((a, b) => (a < b ? a : b));
}

function charge(amountCents, card) {
  if (card.endsWith("0000")) {
    throw new PaymentDeclined(`card ending ${card.slice(-4)} declined for ${amountCents} cents`);
  }
  if (amountCents > 100000) {
    throw new PaymentDeclined(`amount ${amountCents} over the limit`); // same function, other line
  }
}

function checkout(basketId) {
  try {
    loadBasket(basketId);
  } catch (cause) {
    throw new Error(`checkout failed for basket ${basketId}`, { cause });
  }
}

function capture(call, ...args) {
  try {
    call(...args);
  } catch (error) {
    Sentry.captureException(error);
  }
}

async function main() {
  const dsn = process.env.SENTRY_DSN;
  if (!dsn) {
    console.error("set SENTRY_DSN to the DSN printed by `sentry-mirror listen`");
    return 2;
  }
  Sentry.init({
    dsn,
    release: "shop@1.4.2",
    environment: "example",
    tracesSampleRate: 1.0,
    enableLogs: true,
    sendDefaultPii: true,
  });
  Sentry.setUser({ id: "42", email: "jane@example.com", ip_address: "203.0.113.7" });
  Sentry.setTag("region", "eu-west");

  // The SDK starts a session at init (one per process); it is ended, and sent, below.
  await Sentry.startSpan({ name: "POST /checkout", op: "http.server" }, async () => {
    Sentry.startSpan({ name: "SELECT * FROM baskets WHERE id = $1", op: "db.query" }, () => loadBasket(1));
    await Sentry.startSpan({ name: "POST https://payments.example/charge", op: "http.client" }, async () => {
      capture(charge, 2500, "4111111111110000"); // PaymentDeclined, first line
      capture(charge, 250000, "4242424242424242"); // PaymentDeclined, second line
      await new Promise((resolve) => setTimeout(resolve, 5));
    });
  });
  // BasketNotFound twice from the same place (the same stack: in JavaScript the whole call
  // stack is in the event, so a call from inside a span callback would be another place).
  for (const basketId of [7, 9]) capture(loadBasket, basketId);
  capture(cheapestItem, 2); // TypeError
  capture(checkout, 3); // Error caused by BasketNotFound
  Sentry.addBreadcrumb({ category: "cart", message: "user opened basket 1" });
  for (const [orderId, millis] of [
    [1001, 2300],
    [1002, 4100],
  ]) {
    Sentry.captureMessage(`payment provider slow: ${millis} ms for order ${orderId}`, "warning");
  }
  Sentry.captureMessage(`webhook ${crypto.randomUUID()} retried 3 times`);
  Sentry.captureCheckIn({ monitorSlug: "nightly-report", status: "ok", duration: 12.5 });
  Sentry.logger.info(Sentry.logger.fmt`basket ${1} checked out`);
  Sentry.logger.warn(Sentry.logger.fmt`stock low for ${"pear"}`);
  Sentry.endSession();
  return (await Sentry.close(10000)) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
