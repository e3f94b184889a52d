"""Find personal data in event payloads, and say what Sentry's default scrubbing would remove.

The built-in detector (engine ``"builtin"``) walks a parsed JSON payload and reports, per
field path, the kinds of personal data it holds (:data:`KINDS`):

``email``            an e-mail address
``ip``               an IPv4 or IPv6 address (not loopback, unspecified or broadcast, not under a version key)
``credit_card``      13 to 19 digits, optionally grouped by spaces or dashes, passing Luhn
``iban``             a country code, two check digits and 11 to 30 alphanumerics, passing ISO 7064 mod 97
``auth_token``       ``Bearer …``, ``Basic …``, ``Token …`` values; JWTs; a value under an auth or token key
``password``         a non-empty value under a password-like key (``password``, ``secret``, ``api_key`` …)
``cookie``           a cookie: under ``cookies``, or a ``Cookie``/``Set-Cookie`` header
``session_id``       a value under a session-id key or cookie (``sessionid``, ``phpsessid``, ``connect.sid`` …)
``pem_key``          a ``-----BEGIN … KEY-----`` block
``url_credentials``  ``scheme://user:password@host``
``user_path``        a user's home directory: ``/home/<user>``, ``/Users/<user>``, ``C:\\Users\\<user>``

Paths use the field-coverage notation: object keys joined with ``.``, array elements as
``[]`` (``exception.values[].stacktrace.frames[].vars.password``). A list of ``[name,
value]`` pairs (headers, cookies, tags as SDKs may send them) is read as a map.

:func:`sentry_default_rule` says which rule of Sentry's *default* server-side scrubbing
(Relay ``relay-pii``: ``@common:filter`` with its exclusions, the sensitive cookies, and the
replace-only rules on ``logentry.formatted`` and log bodies; protocol reference section 8.3)
would change a value, or None when Sentry would store it as sent. Where the reference and
Relay itself (``sentry-relay`` 0.10.1) disagree, this follows Relay: user paths
(``@userpath``) and ``contexts`` are not scrubbed by default. IP addresses are only
removed when the project turns on "Prevent storing of IP addresses", which is not a default.

Examples are masked (:func:`mask`): a report never repeats the personal data it found.
:func:`locate` gives each finding with the exact place of its value in the payload, and
:func:`spans` the pieces of one string that are personal data (for ``export --redact``).
Pseudonyms (:mod:`.pseudonym`) are no one's data: never found.

The modules:

``detect``        the kinds one string holds, and those its key implies
``masking``       masked examples
``sentry_rules``  what Sentry's default scrubbing would change
``scanner``       walking payloads, with the memory carried across them; places and spans
``relay``         the engines: built-in, or ``relay`` (its findings with Sentry's own scrubber's
                  say, ``sentry-relay``, and what that scrubber changes beyond them)

The patterns themselves are in :mod:`sentry_mirror.core.patterns`, beside the message
normaliser's.
"""

from sentry_mirror.core.pii.detect import KINDS, MAX_SCAN, SENSITIVE_COOKIES, iban_valid, key_kinds, luhn, value_kinds
from sentry_mirror.core.pii.masking import mask
from sentry_mirror.core.pii.relay import (
    ENGINE,
    RELAY_ENGINE,
    RELAY_ITEM_TYPES,
    RelayScan,
    relay_available,
    relay_name,
    relay_rules,
    relay_scan,
)
from sentry_mirror.core.pii.scanner import (
    DEEP,
    MAX_DEPTH,
    Finding,
    Found,
    Location,
    Scanner,
    Site,
    locate,
    scan,
    spans,
)
from sentry_mirror.core.pii.sentry_rules import sentry_default_rule

__all__ = [
    "DEEP",
    "ENGINE",
    "KINDS",
    "MAX_DEPTH",
    "MAX_SCAN",
    "RELAY_ENGINE",
    "RELAY_ITEM_TYPES",
    "SENSITIVE_COOKIES",
    "Finding",
    "Found",
    "Location",
    "RelayScan",
    "Scanner",
    "Site",
    "iban_valid",
    "key_kinds",
    "locate",
    "luhn",
    "mask",
    "relay_available",
    "relay_name",
    "relay_rules",
    "relay_scan",
    "scan",
    "sentry_default_rule",
    "spans",
    "value_kinds",
]
