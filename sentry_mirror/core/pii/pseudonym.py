"""Keyed pseudonyms for personal data (``export --redact``, docs/redaction.md).

The same value, kind and key always give the same pseudonym, so grouping, user counts and
joins still work on a redacted snapshot; another key gives another one, and without the key
a pseudonym says nothing of the value (HMAC-SHA256). A pseudonym keeps its value's kind:

``ip``           an address in a benchmarking range no host has (198.18.0.0/15, RFC 2544;
                 2001:2::/48, RFC 5180): it still parses as an IP address
``credit_card``  as many digits as the card had, separators kept, failing the Luhn check
other kinds      ``<kind:12 hex digits>`` (``<email:5f2c09a1b3de>``)

:func:`is_pseudonym` tells a pseudonym from data: the detectors skip them, so a redacted
snapshot reads as holding no personal data.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re

from sentry_mirror.core.pii.detect import luhn

#: A pseudonym of a kind written as a token.
TOKEN = re.compile(r"<([a-z][a-z_]{0,30}):([0-9a-f]{12})>")
#: The ranges pseudonymous IP addresses are drawn from (no real host is in them).
IPV4_RANGE = ipaddress.IPv4Network("198.18.0.0/15")
IPV6_RANGE = ipaddress.IPv6Network("2001:2::/48")
#: Bytes of a key made when none is given (kept by no one: pseudonyms then join only within one run).
KEY_SIZE = 32


def _digest(key: bytes, kind: str, value: str) -> bytes:
    return hmac.new(key, f"{kind}\0{value}".encode("utf-8", "surrogatepass"), hashlib.sha256).digest()


def pseudonym(key: bytes, kind: str, value: str) -> str:
    """The pseudonym of ``value`` (found to be of ``kind``) under ``key``."""
    digest = _digest(key, kind, value)
    if kind == "ip":
        return _address(digest, ":" in value)
    if kind == "credit_card":
        return _card(digest, value)
    return f"<{kind}:{digest[:6].hex()}>"


def _address(digest: bytes, v6: bool) -> str:
    network = IPV6_RANGE if v6 else IPV4_RANGE
    hosts = network.num_addresses
    offset = int.from_bytes(digest[:16], "big") % hosts
    return str(network.network_address + offset)


def _card(digest: bytes, value: str) -> str:
    """As many digits as ``value`` has, where it has them, failing the Luhn check."""
    count = sum(char.isdigit() for char in value)
    number = str(int.from_bytes(digest, "big")).rjust(count, "0")[-count:] if count else ""
    if count and luhn(number):
        number = number[:-1] + str((int(number[-1]) + 1) % 10)  # one step off the check digit
    digits = iter(number)
    return "".join(next(digits) if char.isdigit() else char for char in value)


def is_pseudonym(text: str) -> bool:
    """True when ``text`` is a pseudonym made by :func:`pseudonym` (a token or an address
    of the pseudonym ranges); a card pseudonym is known by failing Luhn already."""
    if TOKEN.fullmatch(text):
        return True
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return address in (IPV6_RANGE if address.version == 6 else IPV4_RANGE)
