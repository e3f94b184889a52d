"""The built-in personal-data detector and Sentry's default scrubbing rules."""

from __future__ import annotations

import pytest

from tests.helpers import require_relay

from sentry_mirror.core import pii


def kinds(payload: object, item_type: str = "event") -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for finding in pii.scan(payload, item_type):
        found.setdefault(finding.path, set()).add(finding.kind)
    return found


def test_luhn_and_iban_checksums() -> None:
    assert pii.luhn("4242424242424242") and not pii.luhn("4242424242424241")
    assert pii.iban_valid("GB82 WEST 1234 5698 7654 32") and pii.iban_valid("DE89370400440532013000")
    assert not pii.iban_valid("GB82WEST12345698765433") and not pii.iban_valid("XX00")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("mail jane.doe+x@example.co.uk now", "email"),
        ("from 203.0.113.7 via proxy", "ip"),
        ("client 2001:db8::8a2e:370:7334", "ip"),
        ("card 4242 4242 4242 4242 declined", "credit_card"),
        ("card 4242-4242-4242-4242", "credit_card"),
        ("pay to DE89 3704 0044 0532 0130 00", "iban"),
        ("Authorization: Bearer abcdefghijklmnop123", "auth_token"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "auth_token"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE...", "pem_key"),
        ("postgres://app:hunter2@db.internal:5432/shop", "url_credentials"),
        ("/home/jane/app/main.py", "user_path"),
        ("C:\\Users\\jane\\app\\main.py", "user_path"),
        ("/Users/jane/src/app.js", "user_path"),
    ],
)
def test_value_kinds(text: str, kind: str) -> None:
    assert kind in {k for k, _ in pii.value_kinds(text)}


@pytest.mark.parametrize(
    "text",
    [
        "4242424242424241",  # fails Luhn
        "dc24501af6254997901073296b52289a",  # a hex id with a Luhn-valid digit run
        "Mozilla/5.0 Chrome/120.0.0.0 Safari/537.36",  # a version, not an address
        "127.0.0.1:9001",  # loopback is nobody's personal data
        "10:00:01",
        "GB82WEST12345698765433",  # bad IBAN check digits
        "/home/runner/work/app.py",  # a CI runner, not a person
        "plain words only",
    ],
)
def test_no_false_positives(text: str) -> None:
    assert [] == list(pii.value_kinds(text))


def test_url_credentials_are_not_also_an_email() -> None:
    """The "@" ending ``scheme://user:password@host`` is not an e-mail address's; an address
    elsewhere in the same value still is one."""
    assert [("url_credentials", "https://admin:pw@")] == list(pii.value_kinds("https://admin:pw@host.example.com/x"))
    assert [("url_credentials", "postgres://app:hunter2@"), ("email", "bob@example.org")] == list(
        pii.value_kinds("postgres://app:hunter2@db.example.com/shop, ask bob@example.org")
    )
    assert {"extra.dsn": {"url_credentials"}} == kinds({"extra": {"dsn": "https://admin:pw@host.example.com"}})


def test_keys_paths_and_pairs() -> None:
    event = {
        "user": {"email": "jane@example.com", "ip_address": "203.0.113.7"},
        "request": {
            "headers": [["Cookie", "sessionid=abc"], ["Authorization", "Basic dXNlcjpwYXNzd29yZA=="]],
            "cookies": {"sessionid": "abc123", "theme": "dark"},
            "data": {"password": "hunter2", "api_key": "k-123"},
        },
        "exception": {
            "values": [
                {"stacktrace": {"frames": [{"filename": "/home/jane/a.py", "vars": {"card": "4242424242424242"}}]}}
            ]
        },
        "contexts": {"runtime": {"version": "11.0.0.1"}},
    }
    assert {
        "user.email": {"email"},
        "user.ip_address": {"ip"},
        "request.headers.Cookie": {"cookie"},
        "request.headers.Authorization": {"auth_token"},
        "request.cookies.sessionid": {"cookie", "session_id"},
        "request.cookies.theme": {"cookie"},
        "request.data.password": {"password"},
        "request.data.api_key": {"password"},
        "exception.values[].stacktrace.frames[].filename": {"user_path"},
        "exception.values[].stacktrace.frames[].vars.card": {"credit_card"},
    } == kinds(event)


def test_masks_never_show_the_data() -> None:
    assert "j***@***.com" == pii.mask("email", "jane@example.com")
    assert "************4242" == pii.mask("credit_card", "4242 4242 4242 4242")
    assert "203.x.x.x" == pii.mask("ip", "203.0.113.7")
    assert "/home/<user>" == pii.mask("user_path", "/home/jane/app.py")
    assert "postgres://***:***@db/x" == pii.mask("url_credentials", "postgres://app:hunter2@db/x")
    assert "Bearer ***" == pii.mask("auth_token", "Bearer abcdefghijk")
    assert "*** (6 chars)" == pii.mask("password", "secret")


def test_sentry_default_scrubbing() -> None:
    rule = pii.sentry_default_rule
    # @password: keys (and values) in fields the schema marks as personal
    assert "@password:filter" == rule("request.data.password", "password", "data", "hunter2")
    assert "@password:filter" == rule("extra.auth", "auth", "extra", "x")
    assert "@creditcard:filter" == rule("extra.card", "card", "extra", "4242424242424242")
    assert "@iban:filter" == rule("user.data.iban", "iban", "data", "DE89370400440532013000")
    assert "@pemkey:filter" == rule("extra.key", "key", "extra", "-----BEGIN PRIVATE KEY-----\nAAA")
    assert "@urlauth:legacy" == rule("extra.dsn", "dsn", "extra", "postgres://a:b@host/db")
    assert None is rule("extra.cwd", "cwd", "extra", "/home/jane/app")  # the reference says so, Relay does not
    assert None is rule("contexts.os.x", "x", "os", "4242424242424242")
    assert "@cookies:filter" == rule("request.cookies.sessionid", "sessionid", "cookies", "abc")
    assert "@password:filter" == rule("exception.values[].stacktrace.frames[].vars.token", "token", "vars", "abc")
    # emails and IPs are kept by default (e-mails replaced only in log messages)
    assert None is rule("user.email", "email", "user", "jane@example.com")
    assert None is rule("user.ip_address", "ip_address", "user", "203.0.113.7")
    assert "@email:replace" == rule("logentry.formatted", "formatted", "logentry", "mail jane@example.com")
    assert "@email:replace" == rule("items[].body", "body", "items", "mail jane@example.com", "log")
    # exclusions and fields the schema does not mark as personal
    assert None is rule("exception.values[].value", "value", "values", "card 4242424242424242")
    assert None is rule("exception.values[].stacktrace.frames[].abs_path", "abs_path", "frames", "/home/jane/a.py")
    assert None is rule("debug_meta.images[].code_file", "code_file", "images", "/home/jane/lib.so")
    assert None is rule("tags.card", "card", "tags", "4242424242424242")


def test_scan_reports_rule_per_finding() -> None:
    findings = list(pii.scan({"extra": {"card": "4242424242424242"}, "user": {"email": "a@b.io"}}))
    assert {("extra.card", "credit_card", "@creditcard:filter"), ("user.email", "email", None)} == {
        (f.path, f.kind, f.scrubbed_by) for f in findings
    }


# ---------------------------------------------------------------- both engines on the same events

EVENTS = [
    {
        "user": {"email": "jane@example.com", "ip_address": "203.0.113.7", "data": {"card": "4242424242424242"}},
        "request": {
            "cookies": {"sessionid": "abc", "theme": "dark"},
            "headers": {"Authorization": "Bearer abcdefghijkl"},
        },
        "extra": {
            "password": "hunter2",
            "card": "4242 4242 4242 4242",
            "iban": "DE89370400440532013000",
            "pem": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
            "dsn": "postgres://app:hunter2@db/shop",
            "cwd": "/home/jane/app",
        },
        "logentry": {"formatted": "mail jane@example.com"},
        "tags": {"card": "4242424242424242"},
        "contexts": {"os": {"name": "4242424242424242"}},
        "exception": {
            "values": [
                {
                    "type": "E",
                    "value": "card 4242424242424242",
                    "stacktrace": {
                        "frames": [
                            {
                                "function": "f",
                                "abs_path": "/home/jane/a.py",
                                "vars": {"token": "abc", "args": [1, "4242424242424242"]},
                            }
                        ]
                    },
                }
            ]
        },
    },
]


@pytest.mark.parametrize("event", EVENTS)
def test_builtin_rules_agree_with_sentry_relay(event: dict[str, object]) -> None:
    """Where the built-in detector finds personal data, it predicts exactly what Sentry's own
    scrubber (sentry-relay, when installed) removes; where it does not, Relay removes nothing
    more than what the findings cover."""
    require_relay()
    relay = pii.relay_rules(event)  # type: ignore[arg-type]
    builtin = {f.path: f.scrubbed_by for f in pii.scan(event)}
    disagreements = {
        path: (rule, relay.get(path)) for path, rule in builtin.items() if (rule is None) != (relay.get(path) is None)
    }
    assert {} == disagreements
    assert {
        "request.headers.Authorization": "@bearer:filter",
        "request.cookies.sessionid": "@anything:filter",
    }.items() <= relay.items()
    assert set(relay) <= set(builtin)


def test_numbers() -> None:
    """Timestamps and counts are not cards, even when they pass Luhn; a card-shaped number is."""
    assert {} == kinds({"timestamp": 1763894400123, "start": 1763894400123456, "n": 4242424242424242.0})
    assert {"extra.n": {"credit_card"}} == kinds({"extra": {"n": 4242424242424242}})
    assert {"extra.card_number": {"credit_card"}} == kinds({"extra": {"card_number": 4242424242424242}})
