"""A small Flask shop with Sentry's Flask integration: the app ``test_app.py`` tests.

    SENTRY_DSN=http://mirror@127.0.0.1:9001/1 flask --app examples/pytest/app.py run

The SDK reads its DSN from ``SENTRY_DSN`` when the app is created, as in production; the
tests set it to a listener of their own with the ``sentry_mirror`` fixture.
"""

from __future__ import annotations

import sentry_sdk
from flask import Flask, request
from sentry_sdk.integrations.flask import FlaskIntegration

BASKETS: dict[int, list[str]] = {1: ["apple", "pear"], 2: []}


class PaymentDeclined(Exception):
    """The payment provider said no."""


def create_app() -> Flask:
    """The app, with the SDK initialised from the environment (``SENTRY_DSN``)."""
    sentry_sdk.init(integrations=[FlaskIntegration()], release="shop@1.0.0", environment="test")
    app = Flask(__name__)

    @app.get("/baskets/<int:basket_id>")
    def basket(basket_id: int) -> dict[str, object]:
        return {"id": basket_id, "items": BASKETS[basket_id]}  # KeyError (a 500) for unknown baskets

    @app.post("/checkout")
    def checkout() -> dict[str, object]:
        order = request.get_json()
        if order["card_last4"] == "0000":
            raise PaymentDeclined(f"card ending {order['card_last4']} declined for {order['amount']} cents")
        return {"paid": order["amount"]}

    return app


if __name__ == "__main__":
    create_app().run(port=8000)
