"""The shop's errors reach Sentry with their request: checked against a real listener.

The ``sentry_mirror`` fixture comes with sentry-mirror (its pytest plugin): a listener on a
free loopback port for each test. The app's real SDK sends over its real transport; the
test reads what arrived (docs/testing.md).

    pytest examples/pytest
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sentry_sdk
from app import create_app
from flask.testing import FlaskClient


@pytest.fixture
def client(sentry_mirror) -> Iterator[FlaskClient]:
    with sentry_mirror.environ():  # SENTRY_DSN is the listener's while the app starts
        app = create_app()
    yield app.test_client()
    sentry_sdk.get_client().close()  # the next test's app starts a client of its own


def test_a_declined_payment_reaches_sentry_with_its_request(sentry_mirror, client: FlaskClient) -> None:
    response = client.post(
        "/checkout?source=web",
        json={"basket": 3, "card_last4": "0000", "amount": 2500},
        headers={"User-Agent": "shop-tests/1.0", "Authorization": "Bearer secret-token"},
    )
    assert 500 == response.status_code

    [item] = sentry_mirror.wait_for(type="event")
    event = item.json
    [exception] = event["exception"]["values"]
    assert ("PaymentDeclined", "card ending 0000 declined for 2500 cents") == (exception["type"], exception["value"])
    assert {"type": "flask", "handled": False} == exception["mechanism"]
    request = event["request"]
    assert ("POST", "http://localhost/checkout", "source=web") == (
        request["method"],
        request["url"],
        request["query_string"],
    )
    assert "shop-tests/1.0" == request["headers"]["User-Agent"]
    assert "[Filtered]" == request["headers"]["Authorization"]  # the SDK filters it without send_default_pii
    assert {"basket": 3, "card_last4": "0000", "amount": 2500} == request["data"]  # ...but sends the body
    assert "checkout" == event["transaction"]
    assert ("shop@1.0.0", "test") == (event["release"], event["environment"])


def test_an_unknown_basket_is_one_issue_and_sends_no_personal_data(sentry_mirror, client: FlaskClient) -> None:
    for _ in range(3):
        assert 500 == client.get("/baskets/7").status_code
    assert 200 == client.get("/baskets/1").status_code

    sentry_mirror.wait_for(3, type="event")
    [issue] = sentry_mirror.group()
    assert (3, "KeyError: 7") == (issue.count, issue.title)
    sentry_mirror.assert_no_personal_data()
