"""The ``relay`` engine on one payload (core/pii/relay.relay_scan): the built-in findings with
Relay's say, and what Relay's default scrubbing changes beyond them."""

from __future__ import annotations

from sentry_mirror.core import pii
from tests.helpers import require_relay


def test_findings_carry_relays_rule_and_relay_only_lists_what_no_finding_covers() -> None:
    require_relay()
    event = {
        "extra": {"password": "hunter2", "ssn": "078-05-1120", "note": "hello", "ref": "4000 0000 0000 0001"},
        "user": {"email": "jane@example.com"},
    }
    judged = pii.relay_scan(event, "event")
    rules = {(finding.path, finding.kind): finding.scrubbed_by for finding in judged.findings}
    # Relay keeps e-mail addresses by default; it filters secrets and (its @usssn) social security numbers
    assert {
        ("extra.password", "password"): "@password:filter",
        ("user.email", "email"): None,
        ("extra.ssn", "ssn"): "@usssn:filter",
    } == rules
    # its @creditcard has no Luhn check: a Visa-shaped reference failing Luhn is no card, and only Relay filters it
    assert [("extra.ref", "@creditcard:filter")] == judged.relay_only
    assert [] == judged.disagreements and not judged.failed


def test_sdk_placeholders_and_remarks_are_no_ones_data() -> None:
    """What an SDK left of a value it filtered, and its ``_meta`` remarks saying so, are not
    reported: Relay alone re-filters ``[FILTERED]`` or ``********`` under a secret's key and
    repeats sentry-python's ``!config`` remarks as its own."""
    require_relay()
    event = {
        "extra": {"password": "[FILTERED]", "secret": "********", "api_key": "[redacted]", "list": ["[Filtered]"]},
        "request": {"headers": {"Authorization": "[Filtered]"}},
        "_meta": {"request": {"headers": {"Authorization": {"": {"rem": [["!config", "s"]]}}}}},
    }
    assert {"extra.password", "extra.secret", "extra.api_key"} <= set(pii.relay_rules(event))
    judged = pii.relay_scan(event, "event")
    assert ([], [], []) == (judged.findings, judged.relay_only, judged.disagreements)
    assert "[FILTERED]" == event["extra"]["password"] and "_meta" in event  # the payload is not changed


def test_payloads_relay_does_not_read_get_the_builtin_answers() -> None:
    require_relay()
    log = {"items": [{"body": "login by jane@example.com", "attributes": {"password": {"value": "hunter2"}}}]}
    judged = pii.relay_scan(log, "log")
    assert list(pii.scan(log, "log")) == judged.findings and [] == judged.relay_only
    refused = pii.relay_scan([["not", "an event"]], "event")
    assert refused.failed and [] == refused.relay_only


def test_relay_names() -> None:
    assert "breadcrumbs.values[].message" == pii.relay_name("breadcrumbs[].message")
    assert "request.cookies" == pii.relay_name("request.cookies.sessionid")
    assert "request.cookies" == pii.relay_name("request.headers.Cookie")
    assert "request.query_string" == pii.relay_name("request.query_string.email")
    assert "logentry.formatted" == pii.relay_name("message")
