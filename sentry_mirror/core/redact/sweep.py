"""What the detectors do not look at, swept after them over a whole payload (no depth
bound): object keys holding personal data (a dict of local variables keyed by e-mail), the
query of every URL in a value (``?token=…``, read as a query string), and the software
description at the top (``sdk``, ``modules``: skipped by the report, where versions would
pass for IP addresses, but searched here for e-mails, credentials in URLs and home
directories)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from sentry_mirror.core.patterns import PHONE_KEY, PLACEHOLDER
from sentry_mirror.core.pii import Scanner
from sentry_mirror.core.pii.detect import PASSWORD_KEY
from sentry_mirror.core.pii.pseudonym import is_pseudonym
from sentry_mirror.core.redact import forms, http
from sentry_mirror.core.redact.tokens import Pseudonyms, key_spans, redacted_value

#: Top-level keys describing software, and the kinds looked for in them.
SOFTWARE = ("sdk", "modules")
SOFTWARE_KINDS = frozenset({"email", "url_credentials", "user_path"})
#: Who a user is, where the detectors see no personal data (an id, a name; in a ``user``
#: object anywhere; a user report's and a feedback's name): pseudonyms of the kind ``user``,
#: the same as the envelope header's ``trace.user_id`` gets, so users are still counted
#: and joined.
USER_FIELDS = ("id", "username", "name")
#: Where a user lives, finer than a country (its ``country_code`` is kept): ``<geo:…>``.
GEO_FIELDS = ("city", "region", "subdivision")
#: Names of a user's id outside a ``user`` object: tags (``user.id``), log and span
#: attributes (``user.id``, OTel's ``enduser.id``).
USER_KEYS = frozenset({*(f"user.{field}" for field in USER_FIELDS), "enduser.id"})
_FIELD_KINDS = (
    ("phone", PHONE_KEY),
    ("ssn", re.compile(r"(?i)(?:^|[_.-])(?:ssn|social_security(?:_number)?)$")),
)


def sweep(payload: Any, names: Pseudonyms, scanner: Scanner) -> Any:
    """``payload`` with its keys and URL queries redacted (changed in place; a string
    payload is returned redacted)."""
    if isinstance(payload, str):
        return names.own(forms.urls(payload, names, scanner))
    if isinstance(payload, dict):
        for name in SOFTWARE:
            if name in payload:
                payload[name] = _software(payload[name], names)
    stack: list[Any] = [payload]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            _keys(value, names)
            for key, inner in value.items():
                kind = field_kind(key) if isinstance(key, str) else None
                if value is payload and key in SOFTWARE:
                    continue
                if key == "user" and isinstance(inner, dict):
                    user_values(inner, USER_FIELDS, names)
                    user_values(inner.get("geo"), GEO_FIELDS, names, "geo")
                elif isinstance(key, str) and _named(value, key, inner, names, scanner):
                    continue
                if kind and isinstance(inner, str | int) and not isinstance(inner, bool) and _personal(str(inner)):
                    value[key] = names.of(kind, str(inner))
                elif isinstance(inner, str):
                    value[key] = names.own(forms.urls(inner, names, scanner))
                elif isinstance(inner, dict | list):
                    stack.append(inner)
        elif isinstance(value, list):
            if len(value) == 2 and isinstance(value[0], str) and _named(value, 1, value[1], names, scanner, value[0]):
                continue  # a tag as a pair: ["user.id", "u-1"]
            for index, inner in enumerate(value):
                if isinstance(inner, str):
                    value[index] = names.own(forms.urls(inner, names, scanner))
                elif isinstance(inner, dict | list):
                    stack.append(inner)
    return payload


def _named(
    container: Any, key: str | int, inner: Any, names: Pseudonyms, scanner: Scanner, name: str | None = None
) -> bool:
    """Replace ``inner`` by what its name (``key``, or ``name`` for a pair) says it is, if
    it says: everything under a secret's key (:data:`PASSWORD_KEY`, as Relay replaces it
    whole), a user's id in a tag or an attribute (:data:`USER_KEYS`; ``{"value": …}``
    too) with the pseudonym the event's user gets, a header kept as an attribute
    (``http.request.header.cookie``) as the header it is."""
    name = (name if name is not None else str(key)).lower()
    if isinstance(inner, dict | list) and PASSWORD_KEY.search(name) and "author" not in name:
        container[key] = _secret(inner, names)
        return True
    box, field = (inner, "value") if isinstance(inner, dict) else (container, key)
    value = box.get(field) if isinstance(box, dict) else box[field]
    if not isinstance(value, str | int) or isinstance(value, bool) or not _personal(str(value)):
        return False
    if name in USER_KEYS:
        box[field] = names.of("user", str(value))
        return True
    header = name.removeprefix("http.request.header.").removeprefix("http.response.header.")
    if header != name and isinstance(value, str):
        box[field] = http.pairs([(header, value)], names, scanner, "headers")[0][1]
        return True
    return False


def _secret(value: Any, names: Pseudonyms) -> Any:
    """``value`` (an object or array under a secret's key) with every value in it replaced."""
    if isinstance(value, dict):
        return {key: _secret(inner, names) for key, inner in value.items()}
    if isinstance(value, list):
        return [_secret(inner, names) for inner in value]
    if value is None or isinstance(value, bool) or not _personal(str(value)):
        return value
    return redacted_value(value, [("password", None)], names)


@lru_cache(maxsize=4096)
def field_kind(key: str) -> str | None:
    """The kind a key names when its value is personal data whatever it looks like: a
    phone number (``phone``, ``mobile``, ``tel``), a social security number (``ssn``)."""
    for kind, pattern in _FIELD_KINDS:
        if pattern.search(key):
            return kind
    return None


def _personal(text: str) -> bool:
    return bool(text) and not is_pseudonym(text) and not PLACEHOLDER.fullmatch(text)


def _keys(container: dict[str, Any], names: Pseudonyms, only: frozenset[str] | None = None) -> None:
    """Rename, in place and in order, the keys of ``container`` that hold personal data;
    a renamed key that meets another gets a ``~2``, ``~3``… suffix (no value is lost)."""
    if not any(isinstance(key, str) and key_spans(key) for key in container):
        return
    items = list(container.items())
    container.clear()
    for key, value in items:
        found = key_spans(key) if isinstance(key, str) else ()
        if found:
            key = base = names.replace(key, [span for span in found if only is None or span[2] in only])
            count = 1
            while key in container:
                count += 1
                key = f"{base}~{count}"
        container[key] = value


def _software(value: Any, names: Pseudonyms) -> Any:
    """The ``sdk`` or ``modules`` tree with the :data:`SOFTWARE_KINDS` in its strings and
    keys replaced."""
    if isinstance(value, str):
        return names.text(value, SOFTWARE_KINDS)
    stack = [value]
    while stack:
        container = stack.pop()
        if isinstance(container, dict):
            _keys(container, names, SOFTWARE_KINDS)
            entries = list(container.items())
        elif isinstance(container, list):
            entries = list(enumerate(container))
        else:
            continue
        for where, inner in entries:
            if isinstance(inner, str):
                container[where] = names.text(inner, SOFTWARE_KINDS)
            else:
                stack.append(inner)
    return value


def user_values(container: Any, fields: tuple[str, ...], names: Pseudonyms, kind: str = "user") -> None:
    if not isinstance(container, dict):
        return
    for field in fields:
        value = container.get(field)
        if (
            isinstance(value, str | int)
            and not isinstance(value, bool)
            and value != ""
            and not is_pseudonym(str(value))
        ):
            container[field] = names.of(kind, str(value))
