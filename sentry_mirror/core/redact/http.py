"""The request around a body: headers (Sentry's auth keys, cookies value by value, the
rest as the detectors see them), the query string, the path, the peer address, the
record's ``auth``, and an envelope's header (its ``dsn`` and the trace's key and user)."""

from __future__ import annotations

import re
from typing import Any

from sentry_mirror.core.pii import Scanner
from sentry_mirror.core.redact import forms
from sentry_mirror.core.redact.tokens import Pseudonyms

_SENTRY_AUTH_HEADERS = frozenset({"x-sentry-auth", "authorization", "proxy-authorization"})
_SENTRY_KEYS = re.compile(r"(?i)(sentry_(?:key|secret)\s*=\s*)([^,\s]*)")
_DSN_KEY = re.compile(r"(://)([^:@/\s]+)(?::([^@/\s]*))?@")
_USER_FIELDS = ("user_id", "user_segment")


def dsn(text: str, names: Pseudonyms) -> str:
    """A DSN with its public key (and secret) replaced."""

    def swap(match: re.Match[str]) -> str:
        secret = f":{names.of('password', match.group(3))}" if match.group(3) else ""
        return f"{match.group(1)}{names.public_key(match.group(2))}{secret}@"

    return _DSN_KEY.sub(swap, text)


def _sentry_auth(value: str, names: Pseudonyms) -> str:
    return _SENTRY_KEYS.sub(lambda m: m.group(1) + names.public_key(m.group(2)), value)


def _cookies(value: str, names: Pseudonyms, *, first_only: bool) -> str:
    """``a=1; b=2`` with each value replaced (a ``Set-Cookie``: only its cookie, not its attributes)."""
    parts = value.split(";")
    for index, part in enumerate(parts):
        name, eq, inner = part.partition("=")
        if eq and inner.strip():
            parts[index] = f"{name}={names.of('cookie', inner.strip())}"
        if first_only:
            break
    return ";".join(parts)


def pairs(pairs_in: list[tuple[str, str]], names: Pseudonyms, scanner: Scanner, what: str) -> list[list[str]]:
    """``[name, value]`` pairs (headers, query parameters) with every flagged value (and
    the personal data in a name) replaced, and the queries of the URLs in values."""
    out = [[str(name), str(value)] for name, value in pairs_in]
    plain: list[list[str]] = []
    for pair in out:
        name, value = pair[0].lower(), pair[1]
        if name in _SENTRY_AUTH_HEADERS and "sentry_key" in value.lower():
            pair[1] = _sentry_auth(value, names)
        elif name in ("cookie", "set-cookie"):
            pair[1] = _cookies(value, names, first_only=name == "set-cookie")
        else:
            plain.append(pair)
    forms.flagged(plain, names, scanner, what)
    for pair in plain:
        pair[1] = names.own(forms.urls(pair[1], names, scanner))  # a Referer's ?token=
    return out


def auth(value: Any, names: Pseudonyms) -> Any:
    """The record's ``auth`` with its key and DSN replaced."""
    if not isinstance(value, dict):
        return value
    out = dict(value)
    if isinstance(out.get("public_key"), str):
        out["public_key"] = names.public_key(out["public_key"])
    if isinstance(out.get("dsn"), str):
        out["dsn"] = dsn(out["dsn"], names)
    return out


def envelope_header(header: dict[str, Any], names: Pseudonyms) -> dict[str, Any]:
    """An envelope header with its ``dsn`` key and the trace's key and user replaced
    (the rest goes through the detectors with the payloads)."""
    out = dict(header)
    if isinstance(out.get("dsn"), str):
        out["dsn"] = dsn(out["dsn"], names)
    trace = out.get("trace")
    if isinstance(trace, dict):
        trace = out["trace"] = dict(trace)
        if isinstance(trace.get("public_key"), str):
            trace["public_key"] = names.public_key(trace["public_key"])
        for field in _USER_FIELDS:
            if (
                isinstance(trace.get(field), str | int)
                and not isinstance(trace.get(field), bool)
                and trace[field] != ""
            ):
                trace[field] = names.of("user", str(trace[field]))
        user = trace.get("user")
        if isinstance(user, dict):
            trace["user"] = {k: names.of("user", str(v)) if isinstance(v, str | int) else v for k, v in user.items()}
    return out
