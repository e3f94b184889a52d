"""Web API tokens: accepted when present, never kept.

sentry-cli sends ``Authorization: Bearer <token>`` (``DSN <dsn>`` and ``Token <token>`` are
older forms it still knows). The listener replaces the token by :func:`redact` as soon as it
has the request's headers, so no record, log line or answer ever holds it; two different
tokens still read differently (``redacted:`` and 12 hex of the token's SHA-256)."""

from __future__ import annotations

import hashlib
from typing import Any

from sentry_mirror.core.auth import Headers

#: What a redacted token starts with.
REDACTED = "redacted:"
#: Sentry's answer when no credentials came (DRF's NotAuthenticated).
NOT_AUTHENTICATED = "Authentication credentials were not provided."


def redact(token: str) -> str:
    """``redacted:`` and the first 12 hex of the token's SHA-256 (tells tokens apart, gives nothing)."""
    return REDACTED + hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def _redact_value(value: str) -> str:
    scheme, space, token = value.strip().partition(" ")
    if not space:  # no scheme: the whole value may be the secret
        return value if not value.strip() or value.startswith(REDACTED) else redact(value.strip())
    token = token.strip()
    if not token or token.startswith(REDACTED):
        return f"{scheme} {token}".rstrip()
    return f"{scheme} {redact(token)}"


def redact_headers(headers: Headers) -> tuple[tuple[str, str], ...]:
    """``headers`` with every ``Authorization`` value's credential replaced by :func:`redact`."""
    return tuple((name, _redact_value(value) if name.lower() == "authorization" else value) for name, value in headers)


def credentials(headers: Headers) -> dict[str, Any] | None:
    """The record's ``auth`` for redacted ``headers``: ``{"form", "token"}`` from the first
    ``Authorization: <scheme> <token>``; None without one."""
    for name, value in headers:
        if name.lower() != "authorization":
            continue
        scheme, space, token = value.strip().partition(" ")
        if space and token.strip():
            return {"form": scheme.lower(), "token": token.strip()}
    return None  # no scheme and token (a bare value is still redacted in the headers): Sentry's 401


#: The scopes the index answers for any token (an organisation token's, which sentry-cli uses in CI).
SCOPES = ("org:ci",)


def index(headers: Headers) -> dict[str, Any]:
    """``GET /api/0/`` as Sentry's index endpoint answers a token (sentry-cli's ``info``
    reads ``auth.scopes`` and ``user``; an organisation token has no user)."""
    return {"version": "0", "auth": {"scopes": list(SCOPES)} if credentials(headers) else None, "user": None}
