"""The answers' shapes: CORS on every answer, Relay's error body, the preflight, the pixel."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from sentry_mirror.core.ingest.model import Response

CORS_HEADERS: tuple[tuple[str, str], ...] = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Expose-Headers", "x-sentry-error, x-sentry-rate-limits, retry-after"),
    ("Vary", "origin, access-control-request-method, access-control-request-headers"),
    ("Cross-Origin-Resource-Policy", "cross-origin"),
)
PREFLIGHT_HEADERS: tuple[tuple[str, str], ...] = (
    ("Access-Control-Allow-Methods", "POST"),
    (
        "Access-Control-Allow-Headers",
        "x-sentry-auth, x-requested-with, x-forwarded-for, origin, referer, accept, content-type, "
        "authentication, authorization, content-encoding, transfer-encoding",
    ),
    ("Access-Control-Max-Age", "3600"),
)
#: The 1x1 transparent GIF Relay answers ``GET /store/`` with.
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def json_response(status: int, payload: dict[str, Any], extra: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, (("Content-Type", "application/json"), *extra, *CORS_HEADERS), orjson.dumps(payload))


def error_response(status: int, detail: str, causes: tuple[str, ...] = (), *, plain: bool = False) -> Response:
    """Relay's error shape: ``{"detail": …, "causes": […]}`` plus ``X-Sentry-Error``."""
    sentry_error = (("X-Sentry-Error", detail.encode("ascii", "replace").decode()),)
    if plain:
        return Response(
            status, (("Content-Type", "text/plain; charset=utf-8"), *sentry_error, *CORS_HEADERS), detail.encode()
        )
    payload: dict[str, Any] = {"detail": detail}
    if causes:
        payload["causes"] = list(causes)
    return json_response(status, payload, sentry_error)


def empty_response(status: int) -> Response:
    return Response(status, CORS_HEADERS)


def text_response(status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> Response:
    return Response(status, (("Content-Type", content_type), *CORS_HEADERS), text.encode())


#: Seconds a client is asked to wait (``Retry-After``) when the mirror cannot take a request now.
RETRY_AFTER = 2


def unavailable(detail: str, retry_after: int = RETRY_AFTER) -> Response:
    """A 503 the client should retry after ``retry_after`` seconds (storage or shutdown)."""
    response = error_response(503, detail)
    return Response(503, (("Retry-After", str(retry_after)), *response.headers), response.body)
