"""The bodies and headers of scripted answers, as Relay words them
(relay-server/src/endpoints/common.rs: ``BadStoreRequest``, ``ServiceUnavailable``).

Built with the listener's own error shape (:func:`sentry_mirror.core.ingest.error_response`:
``{"detail": …}``, ``X-Sentry-Error``, CORS), so a scripted 429 reads like a natural one."""

from __future__ import annotations

from http import HTTPStatus

from sentry_mirror.core.ingest import Response, error_response
from sentry_mirror.core.ingest.answers import CORS_HEADERS
from sentry_mirror.core.script.model import RateLimit

#: Relay's detail of a 429 (``BadStoreRequest::RateLimited``).
RATE_LIMITED = (
    "Sentry dropped data due to a quota or internal rate limit being reached. This will not affect your "
    "application. See https://docs.sentry.io/product/accounts/quotas/ for more information."
)
#: Relay's detail of a 503 (``ServiceUnavailable``: its services cannot take the request).
OVERLOADED = "the service is overloaded"
#: The header SDKs read their rate limits from.
RATE_LIMITS_HEADER = "X-Sentry-Rate-Limits"


def rate_limits_header(limits: tuple[tuple[RateLimit, int], ...]) -> str:
    """``60:transaction:organization:quota_exceeded, 60::organization``: each limit with its seconds."""
    entries = []
    for limit, seconds in limits:
        entry = f"{seconds}:{';'.join(limit.categories)}:{limit.scope}"
        entries.append(entry + (f":{limit.reason}" if limit.reason else ""))
    return ", ".join(entries)


def relay_detail(status: int, body_size: int, larger_than: int | None) -> tuple[str, bool]:
    """(detail, plain): what Relay says with ``status``; plain text for a 413 over the body limit."""
    if status == 429:
        return RATE_LIMITED, False
    if status == 503:
        return OVERLOADED, False
    if status == 413:
        limit = f" over {larger_than} bytes" if larger_than is not None else ""
        return f"length limit exceeded: the body is{limit} ({body_size} bytes)", True
    try:
        return HTTPStatus(status).phrase.lower(), False
    except ValueError:
        return f"status {status}", False


def scripted(
    status: int,
    body: bytes | None,
    headers: tuple[tuple[str, str], ...],
    body_size: int = 0,
    larger_than: int | None = None,
) -> Response:
    """The answer with ``status``: ``body`` when the script gives one, else Relay's (an
    error body from 400 on, ``{}`` below); ``headers`` (the script's, rate limits) first."""
    if body is not None:
        return Response(status, (*headers, *CORS_HEADERS), body)
    if status < 400:
        return Response(status, (*headers, ("Content-Type", "application/json"), *CORS_HEADERS), b"{}")
    detail, plain = relay_detail(status, body_size, larger_than)
    natural = error_response(status, detail, plain=plain)
    names = {name.lower() for name, _ in headers}
    return Response(status, (*headers, *(h for h in natural.headers if h[0].lower() not in names)), natural.body)
