// The app in a browser page with @sentry/browser (bundled by esbuild into the page's one module script).
//
//   index.html?dsn=<dsn>&release=<release or empty>&dist=<dist or empty>
//
// Checks out a cart holding an item without a price and captures the error;
// window.e2e resolves to {event_id, flushed}.

import * as Sentry from "@sentry/browser";
import { checkout } from "./checkout.js";

function main(dsn, release, dist) {
  Sentry.init({ dsn, release: release || undefined, dist: dist || undefined, environment: "e2e", defaultIntegrations: false });
  try {
    return { receipt: checkout([{ sku: "apple", quantity: 2 }, { sku: "plum", quantity: 1 }]) }; // frame:main
  } catch (error) {
    return { event_id: Sentry.captureException(error) };
  }
}

const params = new URLSearchParams(location.search);
const outcome = main(params.get("dsn"), params.get("release"), params.get("dist")); // frame:<top>
window.e2e = Sentry.flush(10000).then((flushed) => ({ ...outcome, flushed }));
