"""The pseudonymiser of one export: the key, what was replaced (kinds counted), and the
replacements of the text forms of one record, so a value met again anywhere in it (the
``sentry_key`` in a path, an address in an error message) gets the same pseudonym."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote

from sentry_mirror.core.patterns import PLACEHOLDER
from sentry_mirror.core.pii import spans
from sentry_mirror.core.pii.pseudonym import TOKEN, is_pseudonym, pseudonym

#: Kinds whose pseudonym Sentry's default scrubbing would still change (a card pseudonym
#: keeps a card's digits; the others are found by the key they sit under): where a default
#: rule applies, the value is written as Sentry stores it (``[Filtered]``), as Sentry would.
SENTRY_FORM_KINDS = frozenset({"credit_card", "password", "cookie", "session_id", "auth_token"})
FILTERED = "[Filtered]"
_HEX_KEY = re.compile(r"[0-9a-fA-F]{32,}")
#: In text that is not parsed: a key naming a secret or a user, then ``=`` or ``:``, then
#: its value (quoted, or up to a separator).
_KEYED_VALUE = re.compile(
    r"""(?i)((?<![<A-Za-z0-9])["']?[\w.-]*(?:pass|secret|auth|token|key|cookie|sess|sid|card|credential|pwd"""
    r"""|user|uid|email|mail|name|phone|ip_addr)[\w.-]*["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s&;,"'{}\[\]]+)"""
)
_USER_KEY = re.compile(r"(?i)user|uid|name")


def parse_key(raw: bytes) -> bytes:
    """The key in a key file or ``SENTRY_MIRROR_REDACT_KEY``: hex digits (32 or more) are
    read as bytes, anything else as its own bytes; surrounding whitespace is not part of it.
    ValueError for an empty key."""
    text = raw.strip()
    if not text:
        raise ValueError("the redaction key is empty")
    try:
        decoded = text.decode("ascii")
    except UnicodeDecodeError:
        return text
    return bytes.fromhex(decoded) if _HEX_KEY.fullmatch(decoded) and len(decoded) % 2 == 0 else text


def key_id(key: bytes) -> str:
    """Names a key without revealing it: the first 8 hex digits of its SHA-256."""
    return hashlib.sha256(key).hexdigest()[:8]


def sentry_form(rule: str) -> str:
    """What Sentry stores in place of a value a default rule changes: ``[email]`` for a
    replace rule (``@email:replace``), ``[Filtered]`` otherwise."""
    name, _, method = rule.lstrip("@").partition(":")
    return f"[{name}]" if method == "replace" else FILTERED


@lru_cache(maxsize=8192)
def key_spans(key: str) -> tuple[tuple[int, int, str], ...]:
    """The personal data in a key (keys repeat: remembered); a key's words are often joined
    by ``_`` (``ip_203.0.113.7``), read as spaces when nothing is found otherwise."""
    if is_pseudonym(key):
        return ()
    return tuple(spans(key) or spans(key.replace("_", " ")))


class Pseudonyms:
    """Pseudonyms under one key, counting the kinds replaced (:attr:`kinds`)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 1:
            raise ValueError("the redaction key is empty")
        self.key = key
        self.kinds: Counter[str] = Counter()
        #: the public keys replaced in this record (original → pseudonym), replaced in free
        #: text too (a key in a path, in an error message): nothing else finds them there
        self.seen: dict[str, str] = {}
        #: a project's own patterns (``--pii-rules``), applied to every string (:meth:`own`)
        self.patterns: tuple[re.Pattern[str], ...] = ()

    def of(self, kind: str, value: str) -> str:
        """The pseudonym of ``value`` (of ``kind``)."""
        self.kinds[kind] += 1
        return pseudonym(self.key, kind, value)

    def public_key(self, value: str) -> str:
        """A DSN public key's pseudonym: 32 hex digits, as a key is (a server still parses it)."""
        if not value or is_pseudonym(value):
            return value
        token = hashlib.sha256(pseudonym(self.key, "public_key", value).encode()).hexdigest()[:32]
        self.kinds["public_key"] += 1
        if len(value) >= 4:
            self.seen[value] = token
        return token

    def text(self, text: str, only: frozenset[str] | None = None) -> str:
        """``text`` with the personal data in it (:func:`~sentry_mirror.core.pii.spans`; of
        the kinds ``only`` names, if given) and the public keys met in this record
        (:attr:`seen`) replaced by their pseudonyms."""
        for original, token in sorted(self.seen.items(), key=lambda pair: -len(pair[0])):
            if original in text:
                text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(original)}(?![A-Za-z0-9])", token, text)
        return self.own(self.replace(text, [span for span in spans(text) if only is None or span[2] in only]))

    def own(self, text: str) -> str:
        """``text`` with what a project's own patterns (:attr:`patterns`) match replaced by
        ``<personal:…>`` (never inside a pseudonym)."""
        if not self.patterns:
            return text
        taken = [match.span() for match in TOKEN.finditer(text)]
        found: list[tuple[int, int, str]] = []
        for pattern in self.patterns:
            for match in pattern.finditer(text):
                start, end = match.span()
                if end > start and not any(start < stop and end > begin for begin, stop in taken):
                    found.append((start, end, "personal"))
                    taken.append((start, end))
        return self.replace(text, sorted(found))

    def replace(self, text: str, found: list[tuple[int, int, str]]) -> str:
        """``text`` with the ``(start, end, kind)`` spans ``found`` (in order, apart)
        replaced by their pseudonyms."""
        if found:
            parts: list[str] = []
            end = 0
            for start, stop, kind in found:
                parts += [text[end:start], self._token(kind, text[start:stop])]
                end = stop
            parts.append(text[end:])
            text = "".join(parts)
        return text

    def _token(self, kind: str, found: str) -> str:
        """The pseudonym of what :func:`~sentry_mirror.core.pii.spans` found, written as it
        was: percent-encoded where it was (``jane%40example.com`` in a URL's query), so a URL
        stays a URL; the pseudonym of the decoded value, so it joins with the plain one."""
        plain = unquote(found)
        token = self.of(kind, plain)
        return token if plain == found else quote(token, safe="")

    def loose_text(self, text: str) -> str:
        """Text that was meant to be read as something else (JSON that does not parse, a
        statsd line, a text answer): :meth:`text`, and every value written after a key
        that names a secret or a user (``password=…``, ``"api_key": "…"``, ``user_id: …``)."""
        return self.text(_KEYED_VALUE.sub(lambda match: match.group(1) + self._keyed(match), text))

    def _keyed(self, match: re.Match[str]) -> str:
        value = match.group(2)
        if is_pseudonym(value.strip("\"'")) or PLACEHOLDER.fullmatch(value.strip("\"'")):
            return value
        kind = "user" if _USER_KEY.search(match.group(1)) else "password"
        quote_mark = value[0] if value[0] in "\"'" else ""
        return f"{quote_mark}{self.of(kind, value.strip(quote_mark))}{quote_mark}"

    def reset(self) -> None:
        """Forget the keys of the record done (the kinds are counted on)."""
        self.seen = {}


def redacted_value(value: Any, found: list[tuple[str, str | None]], names: Pseudonyms) -> Any:
    """A flagged scalar's replacement: a placeholder as it is (what an SDK left of a value it
    filtered, ``[Filtered]``, is no one's); Sentry's own form where its default scrubbing would
    change even a pseudonym (:data:`SENTRY_FORM_KINDS`); else the pseudonyms of the parts
    of the text that hold the data; else the whole value's pseudonym (a password under its key)."""
    text = value if isinstance(value, str) else str(value)
    if PLACEHOLDER.fullmatch(text):
        return value
    for kind, rule in found:
        if rule is not None and kind in SENTRY_FORM_KINDS:
            return sentry_form(rule)
    parts = spans(text)
    kinds = {kind for kind, _ in found}
    whole = len(parts) == 1 and parts[0][:2] == (0, len(text))  # the value's own kind wins (author_email)
    if parts and (whole or kinds <= {kind for _, _, kind in parts}):
        return names.text(text)
    return names.of(found[0][0], text)
