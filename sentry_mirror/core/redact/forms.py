"""Strings that hold ``name=value`` pairs: query strings (a record's, an event's
``request.query_string``, the query of any URL in any value), form bodies (``request.data``
as a string) and cookie strings (``request.cookies`` as a string). Read as the pairs they
are, the detectors find a ``token``, ``password`` or ``session`` value by its name, as they
do in the parsed forms SDKs also send; each string is written back in its own form, anew
only where a pair changed."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

from sentry_mirror.core.pii import Scanner, locate
from sentry_mirror.core.redact.tokens import Pseudonyms, key_spans, redacted_value

#: A URL (absolute, or a path) with a query, in any text.
_URL_QUERY = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*://|/)[^\s?#\"'<>]*\?([^\s#\"'<>]+)")
#: A form-encoded body: ``a=1&b=2`` and nothing else.
_FORM = re.compile(r"[^=&\s{}\[\]\"]+=[^&\s]*(?:&[^=&\s]+=[^&\s]*)*")
#: ``request`` fields an SDK may send as one string, and how each is read.
STRING_FIELDS = {"query_string": "query", "cookies": "cookie", "data": "form"}


def flagged(pairs: list[list[str]], names: Pseudonyms, scanner: Scanner, what: str) -> None:
    """Replace, in place, every flagged value of ``pairs`` (read as the map ``what``: query,
    headers…), the ``sentry_key`` (a DSN public key's pseudonym) and the personal data in
    their names."""
    wanted: dict[int, list[tuple[str, str | None]]] = {}
    for location, finding in locate({what: pairs}, what, scanner, exhaustive=True):
        if len(location) == 3 and isinstance(location[1], int):
            wanted.setdefault(location[1], []).append((finding.kind, None))
    for index, pair in enumerate(pairs):
        if pair[0].lower() in ("sentry_key", "sentry_secret"):
            pair[1] = names.public_key(pair[1])
        elif index in wanted:
            pair[1] = redacted_value(pair[1], wanted[index], names)
    for pair in pairs:
        found = key_spans(pair[0])
        if found:
            pair[0] = names.replace(pair[0], list(found))


def query(text: str, names: Pseudonyms, scanner: Scanner, what: str = "query") -> str:
    """A query string (or form body) with its flagged values replaced (written anew only
    when one is)."""
    if not text or "=" not in text:
        return text
    before = parse_qsl(text, keep_blank_values=True)
    after = [[name, value] for name, value in before]
    flagged(after, names, scanner, what)
    if [list(pair) for pair in before] == after:
        return text
    return urlencode([(name, value) for name, value in after])


def urls(text: str, names: Pseudonyms, scanner: Scanner) -> str:
    """``text`` with the query of each URL in it redacted as a query string."""
    if "?" not in text or "=" not in text:
        return text

    def swap(match: re.Match[str]) -> str:
        cut = match.start(1) - match.start(0)
        return match.group(0)[:cut] + query(match.group(1), names, scanner)

    return _URL_QUERY.sub(swap, text)


def unfold(payload: Any) -> list[tuple[dict[str, Any], str, str, list[list[str]]]]:
    """Replace, in ``payload`` (an event), the ``request`` fields sent as strings
    (:data:`STRING_FIELDS`) by the pairs they hold, so the detectors (and Relay) read them
    as they read the parsed forms; what :func:`fold` needs to write them back."""
    request = payload.get("request") if isinstance(payload, dict) else None
    if not isinstance(request, dict):
        return []
    undo: list[tuple[dict[str, Any], str, str, list[list[str]]]] = []
    for field, form in STRING_FIELDS.items():
        text = request.get(field)
        if not isinstance(text, str) or "=" not in text or (form == "form" and not _FORM.fullmatch(text.strip())):
            continue
        if form == "cookie":
            pairs = [[name.strip(), value.strip()] for name, _, value in (p.partition("=") for p in text.split(";"))]
        else:
            pairs = [[name, value] for name, value in parse_qsl(text, keep_blank_values=True)]
        request[field] = pairs
        undo.append((request, field, text, [list(pair) for pair in pairs]))
    return undo


def fold(undo: list[tuple[dict[str, Any], str, str, list[list[str]]]]) -> None:
    """Write back as strings the fields :func:`unfold` parsed: as they were when no pair
    changed, else in their own form from the redacted pairs."""
    for request, field, text, before in undo:
        pairs = request.get(field)
        if not isinstance(pairs, list):
            continue
        if pairs == before:
            request[field] = text
        elif STRING_FIELDS[field] == "cookie":
            request[field] = "; ".join(f"{name}={value}" if value or name else "" for name, value in pairs)
        else:
            request[field] = urlencode([(str(name), str(value)) for name, value in pairs])
