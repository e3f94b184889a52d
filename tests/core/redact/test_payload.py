"""One JSON payload redacted (core/redact/payload.py), with both engines."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sentry_mirror.core import pii
from sentry_mirror.core.redact import Pseudonyms, RelayEngine
from sentry_mirror.core.redact.payload import redact_payload
from sentry_mirror.core.redact.relay_engine import remarks, rule_kind
from tests.factories import make_event
from tests.helpers import require_relay

KEY = b"k" * 32


def event() -> dict[str, Any]:
    return make_event(
        user={"id": "42", "email": "jane@example.com", "ip_address": "203.0.113.7"},
        logentry={"formatted": "order for jane@example.com failed"},
        request={
            "url": "https://shop.example/checkout",
            "headers": [["Authorization", "Bearer abcdefghijklmnop"], ["X-Forwarded-For", "203.0.113.9"]],
            "cookies": [["sessionid", "s3cr3t-session"], ["theme", "dark"]],
        },
        extra={"password": "hunter22", "card": "4242424242424242", "note": "see /home/jane/notes.txt"},
    )


def redact(payload: Any, relay: RelayEngine | None = None, key: bytes = KEY) -> Any:
    return redact_payload(copy.deepcopy(payload), "event", Pseudonyms(key), pii.Scanner(exhaustive=True), relay)


def test_every_finding_is_replaced_and_the_rest_is_kept() -> None:
    out = redact(event())
    assert [] == list(pii.scan(out))
    assert out["user"]["email"].startswith("<email:")
    assert out["user"]["ip_address"].startswith("198.1")
    assert out["logentry"]["formatted"].startswith("order for <email:") and out["logentry"]["formatted"].endswith(
        " failed"
    )
    assert "see /home/" in out["extra"]["note"] and "jane" not in out["extra"]["note"]
    assert "theme" == out["request"]["cookies"][1][0] and out["request"]["cookies"][1][1].startswith("<cookie:")
    assert out["request"]["headers"][1][1].startswith("198.1")
    assert out["exception"] == make_event()["exception"]
    assert out["user"]["id"].startswith("<user:")  # who the user is, still counted and joined


def test_values_sentry_would_filter_anyway_are_written_as_sentry_stores_them() -> None:
    """A card pseudonym keeps a card's digits, and a password key is a password key: Sentry's
    default scrubbing would change even their pseudonyms, so they read as it stores them."""
    out = redact(event())
    assert "[Filtered]" == out["extra"]["password"] == out["extra"]["card"]
    assert "[Filtered]" == out["request"]["cookies"][0][1]


def test_a_card_where_sentry_keeps_it_gets_digits_that_fail_luhn() -> None:
    out = redact(make_event(exception={"values": [{"type": "E", "value": "card 4242 4242 4242 4242 declined"}]}))
    value = out["exception"]["values"][0]["value"]
    digits = value.split("card ")[1].split(" declined")[0]
    assert 19 == len(digits) and "4242 4242 4242 4242" != digits and not pii.luhn(digits.replace(" ", ""))


def test_the_same_value_gets_the_same_pseudonym_under_one_key_only() -> None:
    one, two, other = redact(event()), redact(event()), redact(event(), key=b"x" * 32)
    assert one == two
    assert one["user"]["email"] != other["user"]["email"]


def test_odd_payloads_are_taken_as_they_are() -> None:
    for payload in (None, 1, "jane@example.com", [], [["a", "b"]], {"": {"": []}}):
        redact(payload)
    assert redact("jane@example.com").startswith("<email:")


def test_relay_remarks_give_exact_places() -> None:
    meta = {"request": {"headers": {"1": {"1": {"": {"rem": [["@bearer:filter", "s", 0, 10]]}}}}}}
    assert [(("request", "headers", 1, 1), "@bearer:filter")] == list(remarks(meta, ()))
    assert "auth_token" == rule_kind("@bearer:filter") and "personal" == rule_kind("my_rule")


def test_the_relay_engine_leaves_nothing_relay_would_change() -> None:
    require_relay()
    engine = RelayEngine()
    planted = event()
    planted["extra"]["digits"] = "4111 1111 1111 1112"  # fails Luhn: Relay still calls it a card
    out = redact(planted, engine)
    assert {} == pii.relay_rules(out)
    assert [] == list(pii.scan(out))
    assert out["user"]["email"].startswith("<email:")  # joins kept where Relay keeps the value


def test_the_relay_engine_takes_no_sdk_remark_for_a_finding() -> None:
    """Relay carries the SDK's ``_meta`` remarks through its scrubber: a string the SDK
    trimmed (``!limit``) or a cookie it filtered (``!config``) is not Relay's finding."""
    require_relay()
    meta = {
        "extra": {"note": {"": {"rem": [["!limit", "s", 27, 30]], "len": 9000}}},
        "request": {"cookies": {"sessionid": {"": {"rem": [["!config", "s"]]}}}},
    }
    planted = make_event(
        extra={"note": "a long text the SDK trimmed"}, request={"cookies": {"sessionid": "[Filtered]"}}, _meta=meta
    )
    names = Pseudonyms(KEY)
    out = redact_payload(copy.deepcopy(planted), "event", names, pii.Scanner(exhaustive=True), RelayEngine())
    assert planted == out  # nothing there is personal data; the SDK's remarks are kept
    assert {} == dict(names.kinds)


def test_an_sdks_placeholder_is_kept_as_it_is() -> None:
    """What an SDK left of a value it filtered is no one's: Relay flags it under a password
    key, but it is neither given a pseudonym nor counted."""
    from sentry_mirror.core.redact.tokens import redacted_value

    names = Pseudonyms(KEY)
    for placeholder in ("[Filtered]", "***", "[ip]"):
        assert placeholder == redacted_value(placeholder, [("password", None)], names)
        assert placeholder == redacted_value(placeholder, [("password", "@password:filter")], names)
    assert {} == dict(names.kinds)
    assert redacted_value("hunter22", [("password", None)], names).startswith("<password:")


def test_a_projects_own_rules_are_applied_too() -> None:
    require_relay()
    rules = '{"rules": {"order": {"type": "pattern", "pattern": "order-[0-9]+", "redaction": {"method": "replace", "text": "[order]"}}}, "applications": {"$string": ["order"]}}'
    out = redact(make_event(extra={"ref": "order-12345"}), RelayEngine(rules))
    assert "order-12345" not in str(out)


def test_rules_relay_refuses_are_a_clear_error() -> None:
    require_relay()
    from sentry_mirror.errors import MirrorError

    with pytest.raises(MirrorError, match="not a valid Relay PII config"):
        RelayEngine('{"rules": {"x": {"type": "nonsense"}}}')
    with pytest.raises(MirrorError, match="not a valid Relay PII config"):
        RelayEngine("not json")


def test_the_builtin_engine_finds_nothing_in_what_sentry_filtered() -> None:
    """Where Sentry's default scrubbing filters a value whatever it is (a password key, a
    session cookie), a pseudonym would still be filtered (Relay flags it): the redactor writes
    ``[Filtered]``, as Sentry stores it, which no engine should count as personal data."""
    assert [] == list(pii.scan(redact(event())))


def test_user_ids_get_the_pseudonym_the_trace_header_gets() -> None:
    from sentry_mirror.core.redact import http

    names = Pseudonyms(KEY)
    header = http.envelope_header({"trace": {"user_id": "42"}}, names)
    event = redact_payload(
        make_event(user={"id": 42, "username": "jdoe"}), "event", names, pii.Scanner(exhaustive=True)
    )
    session = redact_payload({"did": "42", "sid": "s"}, "session", names, pii.Scanner(exhaustive=True))
    logs = {"items": [{"body": "x", "attributes": {"user.id": {"value": "42", "type": "string"}}}]}
    logs = redact_payload(logs, "log", names, pii.Scanner(exhaustive=True))
    token = header["trace"]["user_id"]
    assert token.startswith("<user:")
    assert token == event["user"]["id"] == session["did"] == logs["items"][0]["attributes"]["user.id"]["value"]
    assert "s" == session["sid"] and event["user"]["username"].startswith("<user:")
