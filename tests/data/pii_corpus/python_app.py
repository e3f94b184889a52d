"""The app the personal-data corpus is captured from: the real sentry-sdk with profiling on.

    SENTRY_DSN=... python python_app.py transaction|continuous [--plant]

It does some work in three threads (so profiles hold samples, thread ids, frames with
instruction addresses), raises, logs and sends a transaction with spans. Without
``--plant`` it sends no personal data at all (``send_default_pii`` off): every finding in
its capture is a false positive. With ``--plant`` it sends the values of planted.json
(e-mails, IP addresses, cards, an IBAN, a password, a token, a cookie, a home directory) in the
places a real app puts them: the user, a WSGI request seen by the SDK's middleware,
breadcrumbs, messages, local variables, span data and log attributes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import sentry_sdk
from sentry_sdk import logger as sentry_logger
from sentry_sdk.integrations.wsgi import SentryWsgiMiddleware

#: What is planted, by role: ``[value, kind]`` (build.py labels every place a capture holds
#: one; the values are not in this file, so its source lines in stack traces hold none).
PLANTED: dict[str, list[str]] = json.loads((Path(__file__).parent / "planted.json").read_text())


def planted(role: str) -> str:
    return PLANTED[role][0]


def busy(seconds: float) -> int:
    """CPU work the profiler samples (hashing, in a few functions)."""
    deadline = time.monotonic() + seconds
    total = 0
    while time.monotonic() < deadline:
        total += digest_round(total)
    return total


def digest_round(seed: int) -> int:
    return hashlib.sha256(str(seed).encode()).digest()[0]


def work(seconds: float) -> None:
    threads = [threading.Thread(target=busy, args=(seconds,), name=f"worker-{n}") for n in range(2)]
    for thread in threads:
        thread.start()
    busy(seconds)
    for thread in threads:
        thread.join()


def charge(card: str, password: str) -> None:
    raise ValueError("payment declined")


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    with sentry_sdk.start_span(op="db.query", name="SELECT * FROM users WHERE email = %s") as span:
        span.set_data("db.params", [planted("email")])
        work(0.2)
    try:
        charge(planted("card"), planted("password"))
    except ValueError:
        sentry_sdk.capture_exception()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def planted_request() -> None:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/checkout",
        "QUERY_STRING": "email=" + planted("other_email").replace("@", "%40") + "&ref=mail",
        "SERVER_NAME": "shop.example",
        "SERVER_PORT": "443",
        "wsgi.url_scheme": "https",
        "REMOTE_ADDR": planted("ip"),
        "HTTP_AUTHORIZATION": planted("bearer"),
        "HTTP_COOKIE": f"sessionid={planted('session')}; theme=dark",
        "HTTP_X_FORWARDED_FOR": planted("ipv6"),
        "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.0.0 Safari/537.36",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
    }
    list(SentryWsgiMiddleware(wsgi_app)(environ, lambda *args: None))


def plant() -> None:
    sentry_sdk.set_user({"id": "1001", "email": planted("email"), "ip_address": planted("ip")})
    planted_request()
    sentry_sdk.add_breadcrumb(category="auth", message=f"password reset mailed to {planted('other_email')}")
    sentry_sdk.set_extra("payout_iban", planted("iban"))
    sentry_sdk.set_extra("database", planted("dsn"))
    sentry_sdk.set_extra("config_file", f"{planted('home')}/.config/shop.toml")
    sentry_sdk.set_extra("db_password", planted("password"))  # (the SDK filters "password" itself)
    sentry_sdk.set_extra("payment_id", planted("card_in_id"))  # a card under an id's key
    sentry_sdk.add_breadcrumb(category="payment", data={"detail": f"card {planted('card_rupay')} authorised"})
    sentry_sdk.set_context("payment", {"note": f"paid with UATP {planted('card_uatp')}"})
    sentry_sdk.capture_message(f"refund to card {planted('card_text')} failed")
    sentry_logger.info("order mailed to {email}", email=planted("other_email"))


def clean() -> None:
    sentry_sdk.set_user({"id": "1001"})
    with sentry_sdk.start_transaction(name="GET /report", op="http.server"):
        with sentry_sdk.start_span(op="db.query", name="SELECT count(*) FROM orders WHERE day = %s"):
            work(0.3)
        try:
            charge("none", "none")
        except ValueError:
            sentry_sdk.capture_exception()
    sentry_sdk.capture_message("report built in 300 ms for 1200 orders")
    sentry_logger.info("report {report_id} done", report_id=7)


def main() -> int:
    mode, planting = sys.argv[1], "--plant" in sys.argv[2:]
    profiling: dict[str, Any] = (
        {"profiles_sample_rate": 1.0}
        if mode == "transaction"
        else {"profile_session_sample_rate": 1.0, "profile_lifecycle": "trace"}
    )
    sentry_sdk.init(
        os.environ["SENTRY_DSN"],
        release="corpus@1.0.0.0" if planting else "corpus@1.0.0",  # planted: a four-part version is no IP
        environment="corpus",
        traces_sample_rate=1.0,
        enable_logs=True,
        send_default_pii=planting,
        **profiling,
    )
    plant() if planting else clean()
    if mode == "continuous":
        time.sleep(0.5)  # the profiler's thread sends its chunk once it sees no transaction running
    sentry_sdk.get_client().close(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
