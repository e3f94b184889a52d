"""Keyed pseudonyms: stable per key, different across keys, of the value's kind, known as pseudonyms."""

from __future__ import annotations

import ipaddress
import re

from hypothesis import given
from hypothesis import strategies as st

from sentry_mirror.core.pii import luhn, value_kinds
from sentry_mirror.core.pii.pseudonym import IPV4_RANGE, IPV6_RANGE, TOKEN, is_pseudonym, pseudonym

KEY = b"k" * 32
OTHER = b"o" * 32


def test_the_same_value_and_key_give_the_same_pseudonym_and_another_key_another() -> None:
    assert pseudonym(KEY, "email", "jane@example.com") == pseudonym(KEY, "email", "jane@example.com")
    assert pseudonym(KEY, "email", "jane@example.com") != pseudonym(OTHER, "email", "jane@example.com")
    assert pseudonym(KEY, "email", "jane@example.com") != pseudonym(KEY, "email", "john@example.com")


def test_a_token_names_its_kind_and_holds_no_personal_data() -> None:
    token = pseudonym(KEY, "email", "jane@example.com")
    match = TOKEN.fullmatch(token)
    assert match is not None and match.group(1) == "email"
    assert [] == list(value_kinds(token))
    assert is_pseudonym(token)


def test_addresses_stay_addresses_of_their_version_in_the_benchmarking_ranges() -> None:
    v4 = ipaddress.ip_address(pseudonym(KEY, "ip", "203.0.113.7"))
    v6 = ipaddress.ip_address(pseudonym(KEY, "ip", "2a00:1450:4001::200e"))
    assert (4, 6) == (v4.version, v6.version)
    assert v4 in IPV4_RANGE and v6 in IPV6_RANGE
    assert is_pseudonym(str(v4)) and is_pseudonym(str(v6))
    assert not is_pseudonym("203.0.113.7") and not is_pseudonym("2001:db8::1")


@given(st.lists(st.integers(0, 9), min_size=13, max_size=19), st.sampled_from(["", " ", "-"]))
def test_a_card_keeps_its_length_and_separators_and_fails_luhn(digits: list[int], separator: str) -> None:
    text = "".join(map(str, digits))
    grouped = separator.join(text[i : i + 4] for i in range(0, len(text), 4))
    fake = pseudonym(KEY, "credit_card", grouped)
    assert len(grouped) == len(fake)
    assert [c.isdigit() for c in grouped] == [c.isdigit() for c in fake]
    assert not luhn(fake.replace(" ", "").replace("-", ""))


@given(st.text(max_size=40))
def test_any_text_has_a_pseudonym_of_every_kind(text: str) -> None:
    for kind in ("email", "password", "auth_token"):
        assert re.fullmatch(rf"<{kind}:[0-9a-f]{{12}}>", pseudonym(KEY, kind, text))
    assert is_pseudonym(str(ipaddress.ip_address(pseudonym(KEY, "ip", text))))
    fake = pseudonym(KEY, "credit_card", text)
    assert [c.isdigit() for c in text] == [c.isdigit() for c in fake]
