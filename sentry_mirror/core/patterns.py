"""What variable values look like in free text: the regular expressions of both readers.

Two callers look for the same kinds of value (e-mail addresses, IP addresses, dates) with
different aims, so where both look for one kind the two patterns stand side by side here:

- the **message normaliser** (:func:`sentry_mirror.core.grouping.normalize_message`) replaces
  anything *shaped like* a value by a placeholder, so that messages differing only in ids
  group together. A false match only merges two messages, a miss splits a group: its
  patterns (``*_LIKE`` and the normaliser-only ones) are loose.
- the **personal-data detector** (:mod:`sentry_mirror.core.pii`) reports a value as an
  e-mail or IP address. A false match is a false report: its patterns are strict (RFC
  lengths, a top-level domain of letters, octets up to 255), and a found IPv6 address is
  still checked by :mod:`ipaddress`.

The searching patterns start only where a run of the characters they match starts (a
look-behind on those characters, or a word boundary), so a search stays linear on long text.
"""

from __future__ import annotations

import re

#: Any digit: most patterns below cannot match a text without one, so callers test it first.
DIGIT = re.compile(r"\d")

# ---------------------------------------------------------------- e-mail addresses

#: Normaliser: a run of address characters, "@", and a domain with at least one dot.
EMAIL_LIKE = re.compile(r"(?<![\w.+%-])[\w.+%-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
#: Detector: a local part of at most 64 characters, labels of at most 63, a top-level domain
#: of 2 to 24 letters, not followed by more address characters (unlike the normaliser's, its
#: look-behind lets a match start right after a "%", as the detector always has).
#: Letters, digits and hyphens of any script (an internationalised domain's labels, RFC 6531).
_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
EMAIL = re.compile(rf"(?<![\w.+-])[\w.+%-]{{1,64}}@{_LABEL}(?:\.{_LABEL})*\.[^\W\d_]{{2,24}}(?![\w-])")
#: Detector: an address URL-encoded in a query string or a URL (``bob%40example.org``).
EMAIL_ENCODED = re.compile(
    r"(?<![\w.+-])[\w.+-]{1,64}%40[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}(?![\w-])"
)

# ---------------------------------------------------------------- IP addresses

#: Normaliser: four dotted numbers of at most three digits (``999.1.1.1`` too), not part of
#: a longer dotted run (a version such as ``1.2.3.4.5``).
IPV4_LIKE = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)(?!\w)")
#: Detector: octets of at most 255, not after ``x/`` (a path), not followed by more digits or
#: a dotted word (a version, a host name).
IPV4 = re.compile(
    r"(?<![\w.])(?<![A-Za-z]/)(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w.]*\d)(?!\.\w)"
)
#: What the normaliser writes for a value, in the order it writes them.
PLACEHOLDERS = ("<uuid>", "<email>", "<date>", "<ip>", "<time>", "<hex>", "<int>", "<float>")
#: Those written at the IPv6 step or after it: where the first pass met the digits of a number
#: (or an address), a second pass meets one of these. So an IPv6 address neither starts right
#: after one nor ends right before one, as it does not next to a digit; otherwise normalising
#: twice could differ from once (in ``::a0:0:0:1:0:0:`` no address ends cleanly, but once the
#: zeros are ``<int>`` a second pass would see ``::a0:`` end there). The earlier ones are
#: already in place when the first pass reaches the IPv6 step: both passes see them alike.
_WRITTEN_LATER = PLACEHOLDERS[3:]
_NOT_AFTER_PLACEHOLDER = "".join(f"(?<!{placeholder})" for placeholder in _WRITTEN_LATER)
_NOT_BEFORE_PLACEHOLDER = "|".join(_WRITTEN_LATER)
#: Normaliser: two to seven groups of at most four hex digits, each with its colon, then a
#: group or an IPv4 tail; the caller keeps only matches with "::" or seven colons, and a digit.
IPV6_LIKE = re.compile(
    rf"(?<![\w:.]){_NOT_AFTER_PLACEHOLDER}(?:[0-9a-f]{{0,4}}:){{2,7}}(?:(?:\d{{1,3}}\.){{3}}\d{{1,3}}|[0-9a-f]{{1,4}})?"
    rf"(?![\w:]|{_NOT_BEFORE_PLACEHOLDER})",
    re.IGNORECASE,
)
#: Detector: three to eight groups of at most four hex digits; the caller checks each match
#: with :class:`ipaddress.IPv6Address` (no IPv4 tail: such an address holds an IPv4 one, found first).
IPV6 = re.compile(r"(?<![\w:.])[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7}(?![\w:])")

# ---------------------------------------------------------------- dates and times

#: Normaliser: an ISO 8601 date, with its time and offset when present.
ISO_DATE = re.compile(
    r"(?<!\d)\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?(?!\d)"
)
#: Detector: a whole value that is an ISO 8601 date and time holds no personal data (at most
#: 9 decimals: a longer run of digits could pass for a card number).
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?")
#: Normaliser: the day names an HTTP date starts with (a text without one skips the pattern).
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
#: Normaliser: an HTTP (RFC 7231) or e-mail (RFC 2822) date.
HTTP_DATE = re.compile(
    r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),?\s+\d{1,2}\s+(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+\d{4}"
    r"(?:\s+\d{2}:\d{2}(?::\d{2})?)?(?:\s*(?:[+-]\d{4}|[A-Z]{2,4}\b))?"
)
#: Normaliser: a clock time ``h:mm:ss`` (fractions and offset included), not inside a longer run of colons.
CLOCK_TIME = re.compile(r"(?<![\d:])\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?(?![\d:])")

# ---------------------------------------------------------------- ids and numbers (normaliser)

UUID = re.compile(
    r"(?<![0-9a-f])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![0-9a-f])", re.IGNORECASE
)
HEX_LITERAL = re.compile(r"\b0x[0-9a-f]+\b", re.IGNORECASE)
#: A hex id: 8 or more hex digits holding both a digit and a letter (``deadbeefcafe`` is a word).
HEX_ID = re.compile(r"(?<!\w)(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}(?!\w)", re.IGNORECASE)
#: A number not inside a word (``v2`` stays); group 1 is its fraction, if any.
NUMBER = re.compile(r"(?<!\w)-?\d+(\.\d+)?")

# ---------------------------------------------------------------- personal data (detector)

#: 13 to 19 digits, optionally grouped by spaces or dashes (the caller checks Luhn).
CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
#: A country code, two check digits and 11 to 30 alphanumerics (the caller checks mod 97).
IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
#: The countries with IBANs and the length of theirs (ISO 13616's registry); 0: a country
#: Relay's ``@iban`` also knows whose IBANs are outside the registry (any length 15-34).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28,
    "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
    "AO": 0, "BF": 0, "BJ": 0, "CF": 0, "CG": 0, "CI": 0, "CM": 0, "CV": 0, "DZ": 0, "GA": 0, "GQ": 0,
    "GW": 0, "IR": 0, "KM": 0, "MA": 0, "MG": 0, "ML": 0, "MZ": 0, "NE": 0, "SN": 0, "TD": 0, "TG": 0,
}  # fmt: skip
#: Card numbers as Relay's ``@creditcard`` rule takes them (``relay-pii`` regexes.rs): Amex,
#: Visa, Mastercard 51-55 and two Discover ranges, 15 or 16 digits, no Luhn check.
RELAY_CARD = re.compile(r"\b(?:3[47]\d|4\d{3}|5[1-5]\d\d|65\d\d|6011)(?:[-\s]?\d){12}\b")
BEARER = re.compile(r"(?i)\b(?:bearer|token)\s+[A-Za-z0-9._~+/=-]{8,}|\bbasic\s+[A-Za-z0-9+/]{8,}={0,2}")
#: The word alone, as Relay's ``@password`` filter takes it.
BEARER_WORD = re.compile(r"(?i)\bbearer\s")
JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")
#: A PEM key, the whole block: from its BEGIN line to its END line (to the end of the text
#: when that is missing, as in a cut log line), so the key's body is in the match.
PEM = re.compile(r"-----BEGIN[A-Z ]*(?:PRIVATE|PUBLIC) KEY-----[\s\S]*?(?:-----END[A-Z ]*KEY-----|\Z)")
#: Well-known API keys by their shape: AWS access key ids, GitHub tokens (personal, OAuth,
#: app, refresh, fine-grained), Stripe live secret and restricted keys, Slack bot and user tokens.
API_KEY = re.compile(
    r"(?<![A-Za-z0-9_])(?:(?:AKIA|ASIA)[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,}"
    r"|[sr]k_live_[A-Za-z0-9]{10,}|xox[bp]-[A-Za-z0-9-]{10,})(?![A-Za-z0-9_])"
)
#: A password written ``password=value`` in free text (group 1), or ``password: value``
#: (group 2: the caller checks it looks like a secret, "password: required" holds none).
PASSWORD_TEXT = re.compile(
    r"(?i)(?<![\w-])(?:password|passwd|pwd)(?:=([^\s&;,'\"<>\[*][^\s&;,'\"]*)|:\s?([^\s&;,'\"<>\[*][^\s&;,'\"]*))"
)
#: ``scheme://user:password@``
URL_AUTH = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")
#: A home directory; group 1 is the user's name.
USER_PATH = re.compile(r"(?:/home/|/Users/|[A-Za-z]:\\\\?(?:Users|Documents and Settings)\\\\?)([^/\\\s]+)")
#: What SDKs and scrubbers write in place of a value they removed (``[Filtered]``, ``[ip]``, ``****``).
PLACEHOLDER = re.compile(r"\[[A-Za-z _-]{1,24}\]|\*{3,}")
#: A US social security number.
SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
#: A US social security number as issued: no area 000, 666 or 9xx, no group 00, no serial 0000.
US_SSN = re.compile(r"(?<![\w-])(?!000|666|9)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w-])")
#: A telephone number as written under a phone's key: digits, spaces, ``+().-`` (the caller
#: counts 7 to 15 digits, E.164's longest).
PHONE = re.compile(r"\+?[\d\s().-]{7,24}")
#: Keys naming a telephone number, the whole key or its last part after ``.``/``_``/``-``
#: (``phone``, ``user.phone_number``, ``mobilePhone``, ``home_tel``, ``msisdn``, ``fax``), not
#: a key that only mentions one (``phone_count``, ``mobile_build``, ``is_mobile``, ``has_phone``): the
#: detector's and the redactor's one test.
PHONE_KEY = re.compile(
    r"(?i)(?:^|(?<!\bis)(?<!\bhas)[._-])(?:(?:mobile|cell|home|work|office|business|contact|primary|user)[_-]?)?"
    r"(?:(?:tele)?phone|mobile|msisdn|tel|fax)(?:[_-]?(?:number|num|no|nr))?$"
)
