"""What Sentry's *default* server-side scrubbing would change (Relay ``relay-pii``:
``@common:filter`` with its exclusions, the sensitive cookies, and the replace-only rules on
``logentry.formatted`` and log bodies; protocol reference section 8.3):
:func:`sentry_default_rule`. Where the reference and Relay itself (``sentry-relay`` 0.10.1)
disagree, this follows Relay: user paths (``@userpath``) and ``contexts`` are not scrubbed
by default, and IP addresses only when the project turns on "Prevent storing of IP
addresses", which is not a default."""

from __future__ import annotations

from sentry_mirror.core.patterns import BEARER, BEARER_WORD, EMAIL, IBAN, PEM, RELAY_CARD, SSN, URL_AUTH
from sentry_mirror.core.pii.detect import MAX_SCAN, PASSWORD_KEY, SENSITIVE_COOKIES, iban_valid

#: Paths (prefixes) whose values Relay's ``pii="true"`` schema marks reach ``@common:filter``.
_PII_TRUE_PREFIXES = (
    "user.",
    "request.data",
    "request.query_string",
    "request.fragment",
    "request.cookies",
    "request.headers",
    "request.env",
    "extra",
    "breadcrumbs.values[].message",
    "breadcrumbs.values[].data",
    "breadcrumbs[].message",
    "breadcrumbs[].data",
    "server_name",
    "spans[].data",
)
_VARS = ".vars"
_EXCLUDED_SUFFIXES = (".filename", ".abs_path")


def _reachable(path: str) -> bool:
    if path.startswith("debug_meta") or path.endswith(_EXCLUDED_SUFFIXES):
        return False
    if path.startswith("exception.values[].value") or path.lower() == "request.headers.user-agent":
        return False
    return path.startswith(_PII_TRUE_PREFIXES) or _VARS + "." in path or path.endswith(_VARS) or ".vars[]" in path


def path_rule(path: str, key: str, parent: str, item_type: str) -> tuple[str, str | None]:
    """What Sentry's default scrubbing does at a path, before looking at the value:
    ``("replace", None)`` (log messages: replace-only rules on the text), ``("fixed", rule)``
    (the path alone decides: a rule, or None when unreachable) or ``("text", None)`` (the
    filter rules on the text decide)."""
    if (item_type == "log" and path == "items[].body") or path == "logentry.formatted":
        return "replace", None
    if not _reachable(path):
        return "fixed", None
    if parent.lower() == "cookies" and key.lower() in SENSITIVE_COOKIES:
        return "fixed", "@cookies:filter"
    if PASSWORD_KEY.search(key) and key:
        return "fixed", "@password:filter"
    return "text", None


def replace_rule(text: str) -> str | None:
    for rule, pattern in (("@email:replace", EMAIL), ("@bearer:replace", BEARER), ("@usssn:replace", SSN)):
        if pattern.search(text):
            return rule
    if RELAY_CARD.search(text):
        return "@creditcard:replace"
    return None


def filter_rule(text: str) -> str | None:
    text = text[:MAX_SCAN]
    if PASSWORD_KEY.search(text) or ("bearer" in text.casefold() and BEARER_WORD.search(text)):
        return "@password:filter"
    if len(text) >= 15 and RELAY_CARD.search(text):  # Relay's numbers, not every card (no UATP, JCB, 2-series)
        return "@creditcard:filter"
    if len(text) >= 15 and not text.islower():
        for match in IBAN.finditer(text):
            if iban_valid(match.group()):
                return "@iban:filter"
    if "-----BEGIN" in text and PEM.search(text):
        return "@pemkey:filter"
    if "://" in text and URL_AUTH.search(text):
        return "@urlauth:legacy"
    if "-" in text and SSN.search(text):
        return "@usssn:filter"
    return None


def sentry_default_rule(path: str, key: str, parent: str, text: str | None, item_type: str = "event") -> str | None:
    """The default Relay rule that would change the value at ``path`` (under ``key``, whose
    parent key is ``parent``; ``text`` its string form, or None for a container), or None."""
    mode, rule = path_rule(path, key, parent, item_type)
    if mode == "fixed" or text is None:
        return rule
    return replace_rule(text) if mode == "replace" else filter_rule(text)
