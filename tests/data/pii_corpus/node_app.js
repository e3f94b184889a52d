// The Node app the personal-data corpus is captured from: the real @sentry/node (loaded
// from tests/conformance/js/node_modules, as examples/node_shop.js does) and a real HTTP
// server on 127.0.0.1 port 0 that it instruments.
//
//   SENTRY_DSN=... node node_app.js [--plant]
//
// Without --plant it sends no personal data (sendDefaultPii off, no user): every finding
// in its capture is a false positive. With --plant the request carries values of
// planted.json (a cookie, a bearer token, X-Forwarded-For, an e-mail in the query string)
// and the app sets a user, a breadcrumb, a message and a log with them.
"use strict";

const path = require("node:path");
const { createRequire } = require("node:module");

const requireFromConformance = createRequire(
  path.join(__dirname, "..", "..", "conformance", "js", "package.json"),
);
const Sentry = requireFromConformance("@sentry/node");
const plant = process.argv.includes("--plant");
// [value, kind] by role; the values are not in this file, so its source lines hold none
const PLANTED = require("./planted.json");
const planted = (role) => PLANTED[role][0];

Sentry.init({
  dsn: process.env.SENTRY_DSN,
  release: "corpus@1.0.0",
  environment: "corpus",
  tracesSampleRate: 1.0,
  enableLogs: true,
  sendDefaultPii: plant,
});
const http = require("node:http");

function charge(card) {
  throw new Error("payment declined");
}

function handler(request, response) {
  if (plant) {
    Sentry.setUser({ id: "1001", email: planted("email"), ip_address: planted("ip") });
    Sentry.setExtra("db_password", planted("password"));
  }
  Sentry.startSpan({ name: "SELECT * FROM orders WHERE id = $1", op: "db.query" }, () => {
    let total = 0;
    for (let n = 0; n < 200000; n += 1) total += n % 7;
    return total;
  });
  try {
    charge(plant ? planted("card") : "none");
  } catch (error) {
    Sentry.captureException(error);
  }
  response.end("ok");
}

async function main() {
  const server = http.createServer(handler);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  const headers = plant
    ? {
        Cookie: `sessionid=${planted("session")}; theme=dark`,
        Authorization: planted("bearer"),
        "X-Forwarded-For": planted("ipv6"),
      }
    : { Accept: "text/plain" };
  const query = plant ? `?email=${encodeURIComponent(planted("other_email"))}&ref=mail` : "?page=2";
  await new Promise((resolve, reject) => {
    http.get(`http://127.0.0.1:${port}/checkout${query}`, { headers }, (res) => res.resume().on("end", resolve)).on("error", reject);
  });
  server.close();
  if (plant) {
    Sentry.addBreadcrumb({ category: "auth", message: `password reset mailed to ${planted("other_email")}` });
    Sentry.captureMessage(`refund to card ${planted("card_text")} failed`);
    Sentry.logger.info(Sentry.logger.fmt`order mailed to ${planted("other_email")}`);
  } else {
    Sentry.captureMessage("report built in 300 ms for 1200 orders");
    Sentry.logger.info(Sentry.logger.fmt`report ${7} done`);
  }
  return (await Sentry.close(10000)) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
