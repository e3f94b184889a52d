"""Labelled cases for the built-in detector's context rules (reviews of issue 19): personal
data in places the captures of the corpus do not hold (cards under id-like keys, cards of
every issuer, letter-only tokens, home directories of every OS), and identifiers that look
like it (timestamps, thread ids, build numbers, hex ids). Recall and precision are scored on
the whole table, as the corpus is."""

from __future__ import annotations

from typing import Any

import pytest

from sentry_mirror.core import pii

#: (payload, every (path, kind) of personal data in it): the labels, written by hand.
LABELLED: list[tuple[dict[str, Any], set[tuple[str, str]]]] = [
    # a card is found under an id's, a time's or a count's key when it is grouped or in text;
    # only a bare run of digits there is the id it says it is
    ({"extra": {"payment_id": "4111 1111 1111 1111"}}, {("extra.payment_id", "credit_card")}),
    ({"extra": {"txn_id": "card 4111-1111-1111-1111 declined"}}, {("extra.txn_id", "credit_card")}),
    ({"extra": {"payment_time": "4111 1111 1111 1111"}}, {("extra.payment_time", "credit_card")}),
    ({"extra": {"order_id": "4111111111111111"}}, set()),
    ({"extra": {"prepaid": "4111111111111111", "valid": "4111111111111111"}},
     {("extra.prepaid", "credit_card"), ("extra.valid", "credit_card")}),  # no id's key
    ({"extra": {"threadId": "4111111111111111", "thread.id": 4111111111111111}}, set()),
    # every issuer: UATP (1), RuPay/UnionPay (8), 2-series Mastercard, JCB, UnionPay 62
    ({"extra": {"note": "135410014004955"}}, {("extra.note", "credit_card")}),
    ({"message": "paid with 1354 1001 4004 955"}, {("message", "credit_card")}),
    ({"breadcrumbs": [{"message": "card 8171999927660000 ok"}]}, {("breadcrumbs[].message", "credit_card")}),
    ({"extra": {"a": "2223003122003222", "b": "3530111333300000", "c": "6200000000000005"}},
     {("extra.a", "credit_card"), ("extra.b", "credit_card"), ("extra.c", "credit_card")}),
    # timestamps (epoch ms, µs, ns) and thread ids (x86-64 and arm64 addresses) that pass Luhn
    ({"extra": {"at": "1764761234566", "t": "1764761234567890", "ns": "1764761234567890128"}}, set()),
    ({"message": "thread 140234567891235 on 281472345678909 at 1764761234567890"}, set()),
    # a release's or a build's number describes software
    ({"dist": "20241203101015", "release": "app@2.0.0+20241203101015"}, set()),
    ({"extra": {"app.version": "20241203101015"}}, set()),
    # an IP is skipped under a version's key only, not under any key holding "version"
    ({"extra": {"conversion": "83.12.4.5"}, "tags": {"versioned_host": "83.12.4.6"}},
     {("extra.conversion", "ip"), ("tags.versioned_host", "ip")}),
    ({"contexts": {"runtime": {"version": "1.2.3.4"}}}, set()),
    # letter-only credentials of 20 characters or more; words are no credential
    ({"message": "got authorization: bearer abcdefghijklmnopqrstuvwxyz"}, {("message", "auth_token")}),
    ({"message": "token validation failed"}, set()),
    # home directories: CI and container users only under /home/, runners' and shared ones
    ({"extra": {"f": "/Users/node/x", "g": "/Users/ubuntu/x", "h": "C:\\Users\\app\\x"}},
     {("extra.f", "user_path"), ("extra.g", "user_path"), ("extra.h", "user_path")}),
    ({"extra": {"f": "/home/app/x", "g": "/Users/runner/work", "h": "C:\\Users\\runneradmin\\x"}}, set()),
    # IBANs: a country that has them and its length; none in an upper-case hex id
    ({"extra": {"iban": "DE89 3704 0044 0532 0130 00", "gb": "GB82WEST12345698765432"}},
     {("extra.iban", "iban"), ("extra.gb", "iban")}),
    ({"debug_meta": {"images": [{"code_id": "CB53CE84EE60249D8A71F28B07EEF6D91"}]}}, set()),
    ({"extra": {"blob": "CB53CE84EE60249D8A71F28B07EEF6D91"}}, set()),  # CB is no country
    # US social security numbers as issued; phone numbers where a key says so
    ({"extra": {"note": "ssn 078-05-1120 on file"}, "user": {"data": {"mobile": "+33 6 12 34 56 78"}}},
     {("extra.note", "ssn"), ("user.data.mobile", "phone_number")}),
    ({"contexts": {"customer": {"phone": 33612345678, "tel": "(555) 010-0199"}}},
     {("contexts.customer.phone", "phone_number"), ("contexts.customer.tel", "phone_number")}),
    ({"extra": {"serial": "000-12-3456", "day": "2024-01-15", "mobile": "iPhone", "is_mobile": True}}, set()),
    # 17-18 digits are no issuer's length: snowflakes, .NET ticks, Steam ids (all Luhn-valid
    # here) are ids; under a card's key such a number is still a card
    ({"message": "user 175928847299117062 not found", "extra": {"ticks": "638688128000000005"},
      "breadcrumbs": [{"message": "steam 76561198000000003"}]}, set()),
    ({"extra": {"card_number": "76561198000000003"}}, {("extra.card_number", "credit_card")}),
    # a phone's key is the whole key or its last part; the value has 7 to 15 digits
    ({"extra": {"phone_count": "123456", "tel_timeout_ms": "1500000", "phone_hash": "1234567890",
                "is_mobile": "1234567"}, "contexts": {"app": {"mobile_build": "20241203"}},
      "spans": [{"data": {"mobile.retries": 1234567}}], "user": {"data": {"phone": "123456"}}}, set()),
    ({"user": {"data": {"mobilePhone": "+1 555 010 0199", "home_tel": "020 7946 0958", "fax": 442079460958}}},
     {("user.data.mobilePhone", "phone_number"), ("user.data.home_tel", "phone_number"),
      ("user.data.fax", "phone_number")}),
    # an SSN's shape in a route (a transaction's name, a span's description) is the route's;
    # in a URL it is found
    ({"transaction": "GET /api/parts/412-33-1234", "spans": [{"description": "GET /api/parts/412-33-1234"}],
      "contexts": {"trace": {"description": "GET /users/123-45-6789/"}},
      "request": {"url": "https://shop.test/users/123-45-6789/"}}, {("request.url", "ssn")}),
    # addresses with non-ASCII local parts and domains (RFC 6531)
    ({"message": "mail jöhn.müller@exämple.de", "extra": {"to": "пользователь@пример.рф"}},
     {("message", "email"), ("extra.to", "email")}),
    # API keys by their shape (AWS, GitHub, Stripe live, Slack), passwords in free text
    ({"message": "using AKIAIOSFODNN7EXAMPLE", "extra": {
        "a": "clone with ghp_16C7e42F292c6912E7710c838347Ae178B4a ok",
        "b": "github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUV",
        "c": "charge failed (sk_live_4eC39HqLyjWDarjtT1zdp7dc)", "d": "slack xoxb-123456789012-abcdefghijkl"}},
     {("message", "auth_token"), ("extra.a", "auth_token"), ("extra.b", "auth_token"), ("extra.c", "auth_token"),
      ("extra.d", "auth_token")}),
    ({"message": "login failed for password=hunter2pass", "extra": {"log": "db pwd: S3cretPw"}},
     {("message", "password"), ("extra.log", "password")}),
    ({"message": "invalid password: too short", "extra": {"a": "password=[Filtered]", "b": "sk_live_short",
                                                          "c": "ghp_notlongenough", "d": "AKIA is a prefix"}},
     set()),
    # an author's e-mail is an e-mail (Sentry's password rule still filters it)
    ({"extra": {"author_email": "jane@example.com"}}, {("extra.author_email", "email")}),
]  # fmt: skip


def _found(payload: dict[str, Any]) -> set[tuple[str, str]]:
    return {(finding.path, finding.kind) for finding in pii.scan(payload)}


@pytest.mark.parametrize(("payload", "labels"), LABELLED)
def test_each_labelled_case(payload: dict[str, Any], labels: set[tuple[str, str]]) -> None:
    assert _found(payload) == labels


def test_recall_and_precision_on_the_table() -> None:
    labels = {(index, *label) for index, (_, wanted) in enumerate(LABELLED) for label in wanted}
    found = {(index, *label) for index, (payload, _) in enumerate(LABELLED) for label in _found(payload)}
    assert len(labels & found) / len(labels) >= 0.95
    assert found <= labels


def test_sentry_scrubs_the_cards_its_own_rule_matches() -> None:
    """Relay's @creditcard takes Amex, Visa, Mastercard 51-55 and Discover numbers only: a
    UATP or JCB card is found, and Sentry would keep it."""
    rules = {f.example[-4:]: f.scrubbed_by for f in pii.scan({"extra": {"a": "4111 1111 1111 1111"}})}
    assert rules == {"1111": "@creditcard:filter"}
    for card in ("1354 1001 4004 955", "3530111333300000"):
        assert [(f.kind, f.scrubbed_by) for f in pii.scan({"extra": {"a": card}})] == [("credit_card", None)]
    author = next(pii.scan({"extra": {"author_email": "jane@example.com"}}))
    assert author.scrubbed_by == "@password:filter"  # Relay's key rule matches "auth"
