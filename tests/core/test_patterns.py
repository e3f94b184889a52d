"""The value patterns shared by the message normaliser (loose) and the personal-data
detector (strict): where they agree, where they differ on purpose, and that each reader
uses the one definition."""

from __future__ import annotations

import re

import pytest

from sentry_mirror.core import patterns, pii
from sentry_mirror.core.grouping import normalize, normalize_message
from sentry_mirror.core.pii import detect, sentry_rules


def found(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text)
    return match.group() if match else None


@pytest.mark.parametrize(
    ("text", "loose", "strict"),
    [
        ("mail jane.doe+shop@example.co.uk now", "jane.doe+shop@example.co.uk", "jane.doe+shop@example.co.uk"),
        ("ops@db.internal1 down", "ops@db.internal1", None),  # a top-level domain is letters
        ("x" * 65 + "@example.com", "x" * 65 + "@example.com", None),  # a local part is at most 64
        ("root@localhost", None, None),  # both want a dot in the domain
    ],
    ids=["address", "digit-in-tld", "long-local-part", "no-dot"],
)
def test_email_loose_for_normalising_strict_for_detecting(text: str, loose: str | None, strict: str | None) -> None:
    assert loose == found(patterns.EMAIL_LIKE, text)
    assert strict == found(patterns.EMAIL, text)


@pytest.mark.parametrize(
    ("text", "loose", "strict"),
    [
        ("from 10.0.0.1.", "10.0.0.1", "10.0.0.1"),
        ("from 999.1.1.1", "999.1.1.1", None),  # octets above 255 are only shaped like an address
        ("version 1.2.3.4.5", None, None),
        ("see host/1.2.3.4", "1.2.3.4", None),  # after "x/": a path, for the detector
    ],
    ids=["address", "octet-over-255", "dotted-version", "in-a-path"],
)
def test_ipv4_loose_for_normalising_strict_for_detecting(text: str, loose: str | None, strict: str | None) -> None:
    assert loose == found(patterns.IPV4_LIKE, text)
    assert strict == found(patterns.IPV4, text)


@pytest.mark.parametrize(
    ("text", "loose", "strict"),
    [
        ("peer 2001:db8::1 gone", "2001:db8::1", "2001:db8::1"),
        ("peer ::ffff:10.0.0.1 gone", "::ffff:10.0.0.1", "::ffff:10"),  # the detector finds the IPv4 part first
        ("at 12:30:45", "12:30:45", "12:30:45"),  # candidates: the callers reject clock times
    ],
    ids=["address", "ipv4-tail", "clock-time"],
)
def test_ipv6_candidates(text: str, loose: str, strict: str) -> None:
    assert loose == found(patterns.IPV6_LIKE, text)
    assert strict == found(patterns.IPV6, text)


def test_both_callers_reject_a_clock_time_the_ipv6_patterns_offer() -> None:
    assert "at <time>" == normalize_message("at 12:30:45")
    assert [] == list(pii.value_kinds("at 12:30:45"))


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("::a0:<int>", None),  # would end right before a placeholder
        ("<float>:ff9b::", None),  # would start right after one
        ("::1<br>", "::1"),  # other text in angle brackets is no placeholder
        ("<br>::1", "::1"),
        *[(f"{placeholder}::1", None) for placeholder in ("<ip>", "<time>", "<hex>", "<int>", "<float>")],
        *[(f"::1{placeholder}", None) for placeholder in ("<ip>", "<time>", "<hex>", "<int>", "<float>")],
        # written before the IPv6 step: the first pass already sees them, as the second does
        *[(f"{placeholder}::1", "::1") for placeholder in ("<uuid>", "<email>", "<date>")],
        *[(f"::1{placeholder}", "::1") for placeholder in ("<uuid>", "<email>", "<date>")],
    ],
)
def test_an_ipv6_address_is_not_read_across_a_placeholder(text: str, address: str | None) -> None:
    assert address == found(patterns.IPV6_LIKE, text)


@pytest.mark.parametrize(
    "text",
    ["::a0:0:0:1:0:0: ", "0.64:ff9b:: ", "::1<br>", "peer 2001:db8::1 at 11:29:04", "fe80::1%eth0-jane@example.com"],
)
def test_normalising_twice_changes_nothing(text: str) -> None:
    once = normalize_message(text)
    assert once == normalize_message(once)


def test_the_placeholders_are_what_the_normaliser_writes() -> None:
    text = (
        "a1b2c3d4e5 0x1f 1 1.5 10.0.0.1 ::1 11:29:04 2026-11-23 jane@example.com aa242a56-e6e6-4b3c-ba0d-0d6853489a2f"
    )
    written = set(re.findall(r"<[a-z]+>", normalize_message(text)))
    assert written == set(patterns.PLACEHOLDERS)


def test_an_address_both_readers_find() -> None:
    assert "mail <email> at <ip>" == normalize_message("mail jane@example.com at 203.0.113.7")
    kinds = list(pii.value_kinds("mail jane@example.com at 203.0.113.7"))
    assert [("email", "jane@example.com"), ("ip", "203.0.113.7")] == kinds


def test_each_reader_uses_the_one_definition() -> None:
    assert normalize.DIGIT is patterns.DIGIT and detect.DIGIT is patterns.DIGIT
    assert normalize.EMAIL_LIKE is patterns.EMAIL_LIKE and normalize.IPV6_LIKE is patterns.IPV6_LIKE
    assert detect.EMAIL is patterns.EMAIL and sentry_rules.EMAIL is patterns.EMAIL
    assert detect.IPV4 is patterns.IPV4 and detect.IPV6 is patterns.IPV6
