"""A small "shop" that sends realistic traffic with the real sentry-sdk.

    SENTRY_DSN=http://mirror@127.0.0.1:9001/1 python examples/python_shop.py

It raises several distinct exceptions (one of them twice from the same place, one from
two lines of the same function), a chained exception, messages with numbers and ids in
them, a transaction with spans, a cron check-in, a session and logs: the mix a real
service sends, and the data `sentry-mirror inspect` and `group` are tested on.
"""

from __future__ import annotations

import os
import sys
import uuid

import sentry_sdk
from sentry_sdk import logger as sentry_logger
from sentry_sdk.crons import capture_checkin

BASKETS: dict[int, list[str]] = {1: ["apple", "pear"], 2: []}


class PaymentDeclined(Exception):
    """The payment provider said no."""


def load_basket(basket_id: int) -> list[str]:
    return BASKETS[basket_id]  # KeyError for unknown baskets


def average_price(basket_id: int) -> float:
    items = load_basket(basket_id)
    return 10.0 * len(items) / len(items)  # ZeroDivisionError for empty baskets


def charge(amount_cents: int, card: str) -> None:
    if card.endswith("0000"):
        raise PaymentDeclined(f"card ending {card[-4:]} declined for {amount_cents} cents")
    if amount_cents > 100_000:
        raise PaymentDeclined(f"amount {amount_cents} over the limit")  # same function, other line


def checkout(basket_id: int) -> None:
    try:
        load_basket(basket_id)
    except KeyError as exc:
        raise RuntimeError(f"checkout failed for basket {basket_id}") from exc


def capture(call: object, *args: object) -> None:
    try:
        call(*args)  # type: ignore[operator]
    except Exception:
        sentry_sdk.capture_exception()


def main() -> int:
    dsn = os.environ.get("SENTRY_DSN")
    if not dsn:
        print("set SENTRY_DSN to the DSN printed by `sentry-mirror listen`", file=sys.stderr)
        return 2
    sentry_sdk.init(
        dsn,
        release="shop@1.4.2",
        environment="example",
        traces_sample_rate=1.0,
        enable_logs=True,
        send_default_pii=True,
    )
    sentry_sdk.set_user({"id": "42", "email": "jane@example.com", "ip_address": "203.0.113.7"})
    sentry_sdk.set_tag("region", "eu-west")

    scope = sentry_sdk.get_isolation_scope()
    scope.start_session()
    with sentry_sdk.start_transaction(name="POST /checkout", op="http.server"):
        with sentry_sdk.start_span(op="db.query", name="SELECT * FROM baskets WHERE id = %s"):
            capture(load_basket, 7)  # KeyError: 7
        with sentry_sdk.start_span(op="http.client", name="POST https://payments.example/charge"):
            capture(charge, 2500, "4111111111110000")  # PaymentDeclined, first line
            capture(charge, 250_000, "4242424242424242")  # PaymentDeclined, second line
    capture(load_basket, 9)  # KeyError again, from the same place
    capture(average_price, 2)  # ZeroDivisionError
    capture(checkout, 3)  # RuntimeError chained from KeyError
    sentry_sdk.add_breadcrumb(category="cart", message="user opened basket 1")
    for order_id, millis in ((1001, 2300), (1002, 4100)):
        sentry_sdk.capture_message(f"payment provider slow: {millis} ms for order {order_id}", level="warning")
    sentry_sdk.capture_message(f"webhook {uuid.uuid4()} retried 3 times")
    capture_checkin(monitor_slug="nightly-report", status="ok", duration=12.5)
    sentry_logger.info("basket {basket_id} checked out", basket_id=1)
    sentry_logger.warning("stock low for {item}", item="pear")
    scope.end_session()
    sentry_sdk.get_client().close(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
