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
    API_KEY,
    BEARER,
    CARD,
    DIGIT,
    EMAIL,
    EMAIL_ENCODED,
    IBAN,
    IBAN_LENGTHS,
    IPV4,
    IPV6,
    ISO_TIME,
    JWT,
    PASSWORD_TEXT,
    PEM,
    PHONE,
    PHONE_KEY,
    PLACEHOLDER,
    URL_AUTH,
    US_SSN,
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
    "ssn",
    "phone_number",
)

#: Strings longer than this are only searched in their first this-many characters.
MAX_SCAN = 4096

# ---------------------------------------------------------------- value detectors

_NOT_PERSONAL_IPS = ("127.", "0.0.0.0", "255.255.255.255")
#: A release as the SDKs name it, ``package@version`` (``app@1.2.3.4``, ``my.app@v1.0.0.0+5``):
#: a four-part version (.NET assembly versions) is no IP address.
_RELEASE = re.compile(r"[\w.:/-]+@v?(?:\d+\.){3}\d+(?:[-+][\w.+-]*)?")
#: Bare digit runs of 15 digits in these ranges are user-space addresses of 64-bit processes
#: (x86-64 ``0x7f…``, arm64 ``0xffff…``): pthread thread ids (Python's ``threading.get_ident()``),
#: not cards, whatever Luhn says. UATP cards (15 digits, first digit 1) lie below.
_ADDRESSES = ((0x7F00_0000_0000, 0x7FFF_FFFF_FFFF), (0xFFFF_0000_0000, 0xFFFF_FFFF_FFFF))
#: Home directories of no person, per kind of path: shared ones, and those of CI runners,
#: cloud images and containers (Linux), of GitHub's macOS and Windows runners.
_USER_PATH_IGNORED = {
    "/home/": frozenset({"shared", "runner", "root", "node", "ubuntu", "ec2-user", "circleci", "jenkins", "vsts",
                         "vagrant", "gitlab-runner", "app", "www-data"}),
    "/Users/": frozenset({"shared", "runner"}),
    "windows": frozenset({"public", "default", "default user", "all users", "runneradmin"}),
}  # fmt: skip

# ---------------------------------------------------------------- key detectors

#: Relay's @password key pattern (protocol reference 8.3).
PASSWORD_KEY = re.compile(
    r"(?i)(password|secret|passwd|api[-_]key|apikey|auth|credentials|mysql_pwd|privatekey|private[-_]key|token|^otp$|^two[-_]factor$)"
)
#: "auth" in a key that names an author (``author_email``): no credential.
_AUTHOR = re.compile(r"author(?!i[sz])")
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
    """True when ``text`` (spaces allowed) is an IBAN: a country that has them, that country's
    length (ISO 13616), valid mod-97 check digits."""
    compact = text.replace(" ", "").upper()
    length = IBAN_LENGTHS.get(compact[:2], -1)
    if not (length == len(compact) or (length == 0 and 15 <= len(compact) <= 34)) or not compact[2:4].isdigit():
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


def issued(card: str, card_key: bool = False) -> bool:
    """Whether a Luhn-valid ``card`` (as :func:`cards` matched it) can be a payment card. Every
    first digit from 1 to 9 is some issuer's (ISO/IEC 7812: 1 UATP, 2-6 the card networks, 7
    fleet cards, 8 RuPay and UnionPay, 9 national schemes); a grouped number is one. A bare run
    of digits is not one when it has a timestamp's shape (13, 16 or 19 digits starting with 1:
    epoch milli-, micro- or nanoseconds of 2001-2033, lengths no issuer gives such numbers) or
    lies where 64-bit processes keep their threads (:data:`_ADDRESSES`), nor when it has 17 or
    18 digits (no issuer's length: Discord and Twitter snowflakes, .NET ticks, Steam ids are),
    unless it sits under a card's key (``card_key``)."""
    if card[0] == "0":
        return False
    if not card.isdigit() or card_key:
        return True
    if len(card) in (17, 18):
        return False
    if card[0] == "1" and len(card) in (13, 16, 19):
        return False
    return not (len(card) == 15 and any(low <= int(card) <= high for low, high in _ADDRESSES))


#: A kind, the match, and the group of the match that is the personal data itself.
Match = tuple[str, re.Match[str], int]


def matches(
    text: str, every: bool = False, ignore: Callable[[str], bool] | None = None, card_key: bool = False
) -> Iterator[Match]:
    """The personal data in ``text``: ``(kind, match, group)``, the first of each kind (every
    one with ``every``); ``ignore`` says which addresses and user names are no one's (pseudonyms);
    ``card_key``: the text sits under a card's key (see :func:`issued`)."""
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
            found = (match for match in cards(text) if issued(match.group(), card_key))
            yield from _first(every, (("credit_card", match, 0) for match in found))
        if len(text) >= 11 and "-" in text:
            yield from _first(every, (("ssn", match, 0) for match in US_SSN.finditer(text)))
        if len(text) >= 15 and not text.islower():  # an IBAN has upper-case letters
            yield from _first(every, (("iban", m, 0) for m in IBAN.finditer(text) if iban_valid(m.group())))
    folded = text.casefold()  # what (?i) can match ("ı" matches "i": only "bas" is sure)
    tokens = (
        [m for m in BEARER.finditer(text) if secret(m.group())]
        if "bearer" in folded or "token" in folded or "bas" in folded
        else []
    )
    if "eyJ" in text and (every or not tokens):
        tokens += JWT.finditer(text)
    if ("_" in text or "AKIA" in text or "ASIA" in text or "xox" in text) and (every or not tokens):
        tokens += API_KEY.finditer(text)
    yield from _first(every, (("auth_token", match, 0) for match in tokens))
    if "pw" in folded or "passw" in folded:
        yield from _first(every, _passwords(text))
    if "-----BEGIN" in text:
        yield from _first(every, (("pem_key", match, 0) for match in PEM.finditer(text)))
    if "/home/" in text or "/Users/" in text or ":\\" in text:
        homes = USER_PATH.finditer(text)
        yield from _first(every, (("user_path", m, 1) for m in homes if personal_user(m, ignore)))


def secret(token: str) -> bool:
    """A credential after its scheme is 20 characters or more, or has a digit or both cases:
    "token validation failed" holds none."""
    credential = token.split()[-1]
    return (
        len(credential) >= 20
        or any(char.isdigit() for char in credential)
        or (credential.lower() != credential != credential.upper())
    )


def _passwords(text: str) -> Iterator[Match]:
    """Passwords written ``password=…`` in free text, or ``password: …`` when what follows
    looks like a secret (:func:`secret`); a placeholder an SDK wrote is none."""
    for match in PASSWORD_TEXT.finditer(text):
        group = 1 if match.group(1) is not None else 2
        value = match.group(group)
        if not PLACEHOLDER.fullmatch(value) and (group == 1 or secret(value)):
            yield "password", match, group


def _first(every: bool, found: Iterable[Match]) -> Iterator[Match]:
    for match in found:
        yield match
        if not every:
            return


def personal_user(home: re.Match[str], ignore: Callable[[str], bool] | None = None) -> bool:
    """Whether the home directory ``home`` (a :data:`USER_PATH` match) is a person's."""
    name = home.group(1)
    prefix = home.group()[: home.start(1) - home.start()]
    ignored = _USER_PATH_IGNORED.get(prefix, _USER_PATH_IGNORED["windows"])
    return name.lower() not in ignored and not (ignore is not None and ignore(name))


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
    text: str, ignore: Callable[[str], bool] | None = None, whole: bool = False, card_key: bool = False
) -> Iterator[tuple[str, str]]:
    """``(kind, matched text)`` for the first of each kind of personal data found in one
    string (searched in its first :data:`MAX_SCAN` characters, or ``whole``; ``card_key``:
    under a card's key)."""
    for kind, match, _ in matches(text if whole else text[:MAX_SCAN], ignore=ignore, card_key=card_key):
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
    elif PASSWORD_KEY.search(_AUTHOR.sub("", lowered)) and not isinstance(value, dict | list):
        yield "password"  # (an author's e-mail or name is what its value says, as elsewhere)
    if phone_key(key) and isinstance(value, str | int) and _phone(str(value)):
        yield "phone_number"


def phone_key(key: str) -> bool:
    """Whether ``key`` names a telephone number (:data:`~sentry_mirror.core.patterns.PHONE_KEY`)."""
    return PHONE_KEY.search(key) is not None


def _phone(text: str) -> bool:
    """A telephone number's shape: 7 to 15 digits with ``+ ( ) . -`` and spaces."""
    return PHONE.fullmatch(text) is not None and 7 <= sum(char.isdigit() for char in text) <= 15
