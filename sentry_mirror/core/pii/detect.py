"""The built-in detector: the kinds of personal data one string holds (:func:`value_kinds`,
with the patterns of :mod:`sentry_mirror.core.patterns` and the checks that confirm them:
Luhn, IBAN mod 97, :mod:`ipaddress`), and the kinds the key a value sits under implies
(:func:`key_kinds`)."""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sentry_mirror.core.patterns import (
    BEARER,
    CARD,
    DIGIT,
    EMAIL,
    EMAIL_ENCODED,
    IBAN,
    IPV4,
    IPV6,
    ISO_TIME,
    JWT,
    PEM,
    PLACEHOLDER,
    URL_AUTH,
    USER_PATH,
)

KINDS = (
    "email",
    "ip",
    "credit_card",
    "iban",
    "auth_token",
    "password",
    "cookie",
    "session_id",
    "pem_key",
    "url_credentials",
    "user_path",
)

#: Strings longer than this are only searched in their first this-many characters.
MAX_SCAN = 4096

# ---------------------------------------------------------------- value detectors

_NOT_PERSONAL_IPS = ("127.", "0.0.0.0", "255.255.255.255")
#: A release as the SDKs name it, ``package@version`` (``app@1.2.3.4``, ``my.app@v1.0.0.0+5``):
#: a four-part version (.NET assembly versions) is no IP address.
_RELEASE = re.compile(r"[\w.:/-]+@v?(?:\d+\.){3}\d+(?:[-+][\w.+-]*)?")
#: The first digits of payment cards (ISO/IEC 7812 industries: 2 and 5 Mastercard, 3 Amex,
#: JCB and Diners, 4 Visa, 6 Discover, UnionPay and Maestro). Thread ids and timestamps start
#: with a 1 (``140234567891234``, ``1764761234567``): a Luhn-valid one is not a card.
_ISSUERS = "23456"
#: Home directories of no person: shared ones, and those of CI runners, cloud images and containers.
_USER_PATH_IGNORED = frozenset(
    {"shared", "public", "default", "all users", "runner", "root", "node", "ubuntu", "ec2-user", "circleci",
     "jenkins", "vsts", "vagrant", "gitlab-runner", "app", "www-data"}
)  # fmt: skip

# ---------------------------------------------------------------- key detectors

#: Relay's @password key pattern (protocol reference 8.3).
PASSWORD_KEY = re.compile(
    r"(?i)(password|secret|passwd|api[-_]key|apikey|auth|credentials|mysql_pwd|privatekey|private[-_]key|token|^otp$|^two[-_]factor$)"
)
_AUTH_KEY = re.compile(r"(?i)^(authorization|proxy-authorization|x-api-key|x-auth-token|.*token.*|auth)$")
_SESSION_KEY = re.compile(
    r"(?i)^(session|sessionid|session_id|sess|phpsessid|jsessionid|asp\.net_sessionid|connect\.sid|_session|__session|user_session)$"
)
#: Cookies Relay always filters, whatever their value.
SENSITIVE_COOKIES = frozenset(
    {
        "sentrysid", "sudo", "su", "session", "__session", "sessionid", "user_session", "symfony", "phpsessid",
        "fasthttpsessionid", "mysession", "irissessionid", "_vercel_jwt", "csrf", "xsrf", "_xsrf", "_csrf",
        "csrf-token", "csrf_token", "xsrf-token", "xsrf_token", "fastcsrf", "_iris_csrf",
    }
)  # fmt: skip


def luhn(digits: str) -> bool:
    """True when ``digits`` (only digits) pass the Luhn check."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    """True when ``text`` (spaces allowed) is an IBAN with valid mod-97 check digits."""
    compact = text.replace(" ", "").upper()
    if not (15 <= len(compact) <= 34) or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(char, 36)) for char in moved)
    return int(number) % 97 == 1


def _is_ipv6(text: str) -> bool:
    """A real, global-ish IPv6 address (not loopback or unspecified, not a clock time)."""
    if "::" not in text and text.count(":") < 7:
        return False
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return not (address.is_loopback or address.is_unspecified)


def cards(text: str) -> Iterator[re.Match[str]]:
    """Each card number in ``text`` (13 to 19 digits passing Luhn, not all one digit)."""
    for match in CARD.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn(digits):
            yield match


#: A kind, the match, and the group of the match that is the personal data itself.
Match = tuple[str, re.Match[str], int]


def matches(text: str, every: bool = False, ignore: Callable[[str], bool] | None = None) -> Iterator[Match]:
    """The personal data in ``text``: ``(kind, match, group)``, the first of each kind (every
    one with ``every``); ``ignore`` says which addresses and user names are no one's (pseudonyms)."""
    if (text.isalnum() and text.islower()) or ISO_TIME.fullmatch(text):
        return  # letters and digits, no capitals (hex ids, words), or a time: no pattern can match
    if "@" in text:
        # the "@" that ends URL credentials (scheme://user:password@host) is not an address's
        credentials = list(URL_AUTH.finditer(text)) if "://" in text else []
        for match in credentials[: None if every else 1]:
            yield "url_credentials", match, 0
        taken = {m.end() - 1 for m in credentials}
        addresses: Iterable[re.Match[str]] = (
            m for m in EMAIL.finditer(text) if m.start() + m.group().index("@") not in taken
        )
    else:
        addresses = ()
    if "%40" in text:
        addresses = itertools.chain(addresses, EMAIL_ENCODED.finditer(text))
    yield from _first(every, (("email", match, 0) for match in addresses))
    # each search runs only when the text has what its pattern cannot match without
    digit = DIGIT.search(text) is not None
    yield from _addresses(text, digit, every, ignore)
    if digit:
        if len(text) >= 13:
            issued = (match for match in cards(text) if match.group()[0] in _ISSUERS)
            yield from _first(every, (("credit_card", match, 0) for match in issued))
        if len(text) >= 15 and not text.islower():  # an IBAN has upper-case letters
            yield from _first(every, (("iban", m, 0) for m in IBAN.finditer(text) if iban_valid(m.group())))
    folded = text.casefold()  # what (?i) can match ("ı" matches "i": only "bas" is sure)
    tokens = (
        [m for m in BEARER.finditer(text) if _secret(m.group())]
        if "bearer" in folded or "token" in folded or "bas" in folded
        else []
    )
    if "eyJ" in text and (every or not tokens):
        tokens += JWT.finditer(text)
    yield from _first(every, (("auth_token", match, 0) for match in tokens))
    if "-----BEGIN" in text:
        yield from _first(every, (("pem_key", match, 0) for match in PEM.finditer(text)))
    if "/home/" in text or "/Users/" in text or ":\\" in text:
        homes = USER_PATH.finditer(text)
        yield from _first(every, (("user_path", m, 1) for m in homes if _personal_user(m.group(1), ignore)))


def _secret(token: str) -> bool:
    """A credential after its scheme has a digit or both cases: "token validation failed" holds none."""
    credential = token.split()[-1]
    return any(char.isdigit() for char in credential) or (credential.lower() != credential != credential.upper())


def _first(every: bool, found: Iterable[Match]) -> Iterator[Match]:
    for match in found:
        yield match
        if not every:
            return


def _personal_user(name: str, ignore: Callable[[str], bool] | None) -> bool:
    return name.lower() not in _USER_PATH_IGNORED and not (ignore is not None and ignore(name))


def _addresses(text: str, digit: bool, every: bool, ignore: Callable[[str], bool] | None) -> Iterator[Match]:
    """IPv4 addresses (not loopback, unspecified or broadcast, not a release's version); IPv6
    ones when there are none (or with ``every``), checked by :mod:`ipaddress`."""
    v4 = False
    if digit and "." in text and not ("@" in text and _RELEASE.fullmatch(text)):
        for match in IPV4.finditer(text):
            v4 = True
            if not match.group().startswith(_NOT_PERSONAL_IPS) and not (ignore is not None and ignore(match.group())):
                yield "ip", match, 0
                if not every:
                    return
    if (every or not v4) and ":" in text and ("::" in text or text.count(":") >= 7):  # ("::a": no digit needed)
        for match in IPV6.finditer(text):
            if _is_ipv6(match.group()) and not (ignore is not None and ignore(match.group())):
                yield "ip", match, 0
                if not every:
                    return


def value_kinds(
    text: str, ignore: Callable[[str], bool] | None = None, whole: bool = False
) -> Iterator[tuple[str, str]]:
    """``(kind, matched text)`` for the first of each kind of personal data found in one
    string (searched in its first :data:`MAX_SCAN` characters, or ``whole``)."""
    for kind, match, _ in matches(text if whole else text[:MAX_SCAN], ignore=ignore):
        yield kind, match.group()


def key_kinds(key: str, parent: str, value: Any) -> Iterator[str]:
    """Kinds implied by the key a (non-empty) value sits under, and by its parent's key;
    none for a placeholder an SDK wrote instead of the value (``[Filtered]``)."""
    if value in (None, "", [], {}) or isinstance(value, bool):
        return
    if isinstance(value, str) and PLACEHOLDER.fullmatch(value):
        return  # what an SDK wrote in place of the value ("[Filtered]"): nothing left
    lowered = key.lower()
    parent_l = parent.lower()
    if parent_l == "cookies" or lowered in ("cookie", "set-cookie", "http_cookie"):
        yield "cookie"
    if _SESSION_KEY.match(lowered) or (parent_l == "cookies" and lowered in SENSITIVE_COOKIES and "sess" in lowered):
        yield "session_id"
    if _AUTH_KEY.match(lowered):
        yield "auth_token"
    elif PASSWORD_KEY.search(lowered) and not isinstance(value, dict | list):
        yield "password"
