"""The key, key ids and pseudonyms in text (core/redact/tokens.py)."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from sentry_mirror.core import pii
from sentry_mirror.core.pii.pseudonym import is_pseudonym
from sentry_mirror.core.redact import Pseudonyms, key_id, parse_key
from sentry_mirror.core.redact.tokens import sentry_form

KEY = b"k" * 32


def test_a_key_in_hex_is_read_as_bytes_and_text_as_its_bytes() -> None:
    assert bytes(range(16)) * 2 == parse_key((bytes(range(16)) * 2).hex().encode() + b"\n")
    assert b"correct horse battery" == parse_key(b"  correct horse battery \n")
    assert b"abc123" == parse_key(b"abc123")  # short hex-looking text is text
    with pytest.raises(ValueError, match="empty"):
        parse_key(b" \n")


def test_a_key_id_names_a_key_without_showing_it() -> None:
    assert re.fullmatch(r"[0-9a-f]{8}", key_id(KEY))
    assert key_id(KEY) == key_id(KEY) != key_id(b"other")
    assert KEY.hex()[:8] != key_id(KEY)


def test_text_keeps_all_but_the_personal_data_and_the_same_value_gets_the_same_token() -> None:
    names = Pseudonyms(KEY)
    text = "mail jane@example.com or jane@example.com from 203.0.113.7 now"
    out = names.text(text)
    assert "jane@example.com" not in out and "203.0.113.7" not in out
    assert out.startswith("mail <email:") and out.endswith(" now")
    tokens = re.findall(r"<email:[0-9a-f]{12}>", out)
    assert 2 == len(tokens) and tokens[0] == tokens[1]
    assert [] == pii.spans(out)  # nothing left to find
    assert {"email": 2, "ip": 1} == dict(names.kinds)


def test_one_key_gives_the_same_pseudonyms_and_another_key_others() -> None:
    text = "jane@example.com"
    assert Pseudonyms(KEY).text(text) == Pseudonyms(KEY).text(text) != Pseudonyms(b"x" * 32).text(text)


def test_a_public_key_becomes_32_hex_digits_and_is_replaced_where_met_again() -> None:
    names = Pseudonyms(KEY)
    token = names.public_key("mirror")
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    assert f"/api/1/unreal/{token}/" == names.text("/api/1/unreal/mirror/")
    names.reset()
    assert "/api/1/unreal/mirror/" == names.text("/api/1/unreal/mirror/")


def test_an_ip_pseudonym_is_an_address_in_the_reserved_range() -> None:
    out = Pseudonyms(KEY).text("from 203.0.113.7")
    assert out.startswith("from 198.1") and is_pseudonym(out.split()[-1])


@pytest.mark.parametrize(
    ("rule", "form"),
    [("@email:replace", "[email]"), ("@creditcard:filter", "[Filtered]"), ("@password:filter", "[Filtered]")],
)
def test_what_sentry_stores_in_place_of_a_value(rule: str, form: str) -> None:
    assert form == sentry_form(rule)


def test_percent_encoded_personal_data_is_replaced_encoded_alike() -> None:
    """An address percent-encoded in a URL's query gets the plain address's pseudonym (it
    joins), itself percent-encoded: the URL stays a URL and nothing is left to find."""
    names = Pseudonyms(KEY)
    out = names.text("https://shop.example/?email=jane.doe%40example.com&page=2")
    token = names.text("jane.doe@example.com")
    assert token.startswith("<email:")
    assert f"https://shop.example/?email={quote(token, safe='')}&page=2" == out
    assert out.startswith("https://shop.example/?email=%3Cemail%3A") and "<" not in out
    assert [] == pii.spans(out) == list(pii.scan({"request": {"url": out}}))
    assert "a%20b" == names.text("a%20b")
