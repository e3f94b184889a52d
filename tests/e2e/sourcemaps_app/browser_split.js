// The app in a browser page, with the cart's code split off into its own chunk (esbuild
// --splitting): loaded by a dynamic import, it is another file with its own debug id.
//
//   index.html?dsn=<dsn>&release=<release or empty>&dist=<dist or empty>
//
// Once the chunk is loaded the checkout runs in a timer callback, so that the error's stack
// is the app's alone (after an `await`, V8 would append the frames of whoever awaits).
// window.e2e resolves to {event_id, flushed}.

import * as Sentry from "@sentry/browser";

function main(checkout) {
  try {
    return { receipt: checkout([{ sku: "apple", quantity: 2 }, { sku: "plum", quantity: 1 }]) }; // frame:main
  } catch (error) {
    return { event_id: Sentry.captureException(error) };
  }
}

const params = new URLSearchParams(location.search);
const [dsn, release, dist] = ["dsn", "release", "dist"].map((name) => params.get(name) || undefined);
Sentry.init({ dsn, release, dist, environment: "e2e", defaultIntegrations: false });
window.e2e = import("./checkout.js")
  .then(({ checkout }) => new Promise((resolve) => setTimeout(() => resolve(main(checkout)), 0))) // frame:<anonymous>
  .then((outcome) => Sentry.flush(10000).then((flushed) => ({ ...outcome, flushed })));
