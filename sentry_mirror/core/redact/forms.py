"""Strings that hold something parsed: ``name=value`` pairs (query strings: a record's,
an event's ``request.query_string``, a span's or breadcrumb's ``http.query``/``url.query``,
the query and the fragment of any URL in any value; form bodies, ``request.data`` as a
string; cookie strings, ``request.cookies`` as a string) and JSON objects or arrays written
as strings. Read as what they hold, the detectors find a ``token``, ``password`` or
``session`` value by its name, as they do in the parsed forms SDKs also send; each string
is written back in its own form, anew only where a value in it changed."""

from __future__ import annotations

import copy
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

from sentry_mirror.core.lenient import loads_or_none
from sentry_mirror.core.pii import Scanner, locate
from sentry_mirror.core.redact.tokens import Pseudonyms, key_spans, redacted_value

#: A URL (absolute, or a path) with a query or a fragment (``#access_token=…``), in any text.
_URL_QUERY = re.compile(
    r"(?:[A-Za-z][A-Za-z0-9+.-]*://|/)[^\s?#\"'<>]*(?=[?#])(?:\?([^\s#\"'<>]+))?(?:#([^\s\"'<>]+))?"
)
#: A form-encoded body: ``a=1&b=2`` and nothing else.
_FORM = re.compile(r"[^=&\s{}\[\]\"]+=[^&\s]*(?:&[^=&\s]+=[^&\s]*)*")
#: ``request`` fields an SDK may send as one string, and how each is read.
STRING_FIELDS = {"query_string": "query", "cookies": "cookie", "data": "form"}
#: Keys whose value is a query string without its ``?`` anywhere (sentry-python's span and
#: breadcrumb ``http.query``, OTel's ``url.query``), read when it is ``a=1&b=2`` and no more.
QUERY_KEYS = frozenset({"http.query", "url.query", "query", "query_string"})
#: The longest string read as JSON (a longer one is searched as text).
MAX_JSON = 1 << 20
#: A string :func:`unfold` parsed: its container, key, text, form, and what it held.
Unfolded = tuple[Any, Any, str, str, Any]


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
    """``text`` with the query of each URL in it redacted as a query string, and its
    fragment too when it holds pairs (the OAuth implicit flow's ``#access_token=…``; a
    router's ``#/route?a=1``: the part after the ``?``)."""
    if ("?" not in text and "#" not in text) or "=" not in text:
        return text

    def swap(match: re.Match[str]) -> str:
        whole, base = match.group(0), match.start(0)
        for group in (2, 1):  # the fragment first: the query's offsets still hold
            part = match.group(group)
            if part and "=" in part:
                head, mark, tail = part.partition("?") if group == 2 and "?" in part else ("", "", part)
                start, end = match.start(group) - base, match.end(group) - base
                whole = whole[:start] + head + mark + query(tail, names, scanner) + whole[end:]
        return whole

    return _URL_QUERY.sub(swap, text)


def unfold(payload: Any) -> list[Unfolded]:
    """Replace, in ``payload``, the strings that hold something parsed by what they hold,
    so the detectors (and Relay) read them as they read the parsed forms: the ``request``
    fields sent as strings (:data:`STRING_FIELDS`), query strings without their ``?``
    (:data:`QUERY_KEYS`) and JSON objects or arrays written as strings; what :func:`fold`
    needs to write them back."""
    request = payload.get("request") if isinstance(payload, dict) else None
    undo: list[Unfolded] = []
    stack: list[Any] = [payload]
    while stack:
        container = stack.pop()
        if isinstance(container, dict):
            entries: list[tuple[Any, Any]] = list(container.items())
        elif isinstance(container, list):
            entries = list(enumerate(container))
        else:
            continue
        for key, inner in entries:
            if isinstance(inner, str):
                form = _form(key, inner, request_field=container is request)
                inner = _parse(inner, form) if form else None
                if inner is None:
                    continue
                undo.append((container, key, container[key], form or "", copy.deepcopy(inner)))
                container[key] = inner
            if isinstance(inner, dict | list):
                stack.append(inner)
    return undo


def _form(key: Any, text: str, *, request_field: bool) -> str | None:
    """How ``text`` (the value of ``key``) is read, if it holds something parsed."""
    if text.lstrip()[:1] in ("{", "[") and len(text) <= MAX_JSON:
        return "json"
    if "=" not in text or not isinstance(key, str):
        return None
    if request_field and key in STRING_FIELDS:
        form = STRING_FIELDS[key]
        return form if form != "form" or _FORM.fullmatch(text.strip()) else None
    return "query" if key.lower() in QUERY_KEYS and _FORM.fullmatch(text.strip()) else None


def _parse(text: str, form: str) -> Any:
    if form == "json":
        parsed = loads_or_none(text)
        return parsed if isinstance(parsed, dict | list) else None
    if form == "cookie":
        return [[name.strip(), value.strip()] for name, _, value in (p.partition("=") for p in text.split(";"))]
    return [[name, value] for name, value in parse_qsl(text, keep_blank_values=True)]


def fold(undo: list[Unfolded]) -> None:
    """Write back as strings what :func:`unfold` parsed (the innermost first): as they
    were when nothing in them changed, else in their own form from the redacted values."""
    for container, key, text, form, before in reversed(undo):
        try:
            now = container[key]
        except (KeyError, IndexError):
            continue  # a key renamed (it held personal data): its value stays parsed
        if now == before:
            container[key] = text
        elif form == "json":
            container[key] = json.dumps(now, ensure_ascii=False)
        elif not isinstance(now, list):
            continue
        elif form == "cookie":
            container[key] = "; ".join(f"{name}={value}" if value or name else "" for name, value in now)
        else:
            container[key] = urlencode([(str(name), str(value)) for name, value in now])
