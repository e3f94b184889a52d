"""What Relay would answer to a request, and what it carried: the mirror's protocol brain.

:func:`handle` takes a :class:`Request` (everything that arrived, the body still as
sent on the wire) and returns an :class:`Outcome`: the response to send, and a summary
of the content (endpoint, auth, envelope header, items, event id). It is pure,
so every protocol rule is tested without a socket, and the server only moves bytes.

The package, by idea: ``model`` (the request, response and outcome types), ``routes``
(which endpoint a path is), ``answers`` (CORS, Relay's error shape), ``authn`` (who sent
it), ``dispatch`` (the entry points and the endpoints table), ``envelopes`` (envelope and
tunnel: per-envelope limits, the bounded summary), ``store`` (the legacy store body),
``endpoints`` (security, NEL, minidump, Unreal, attachments, cron, OTLP) and ``tus`` (the
TUS upload endpoint for large attachments).
"""

from sentry_mirror.core.ingest.answers import PIXEL_GIF, PREFLIGHT_HEADERS, error_response, unavailable
from sentry_mirror.core.ingest.dispatch import cut_short, handle, internal_error, too_large
from sentry_mirror.core.ingest.model import Config, Outcome, Request, Response
from sentry_mirror.core.ingest.routes import ENDPOINTS, route
from sentry_mirror.core.ingest.store import store_json

__all__ = [
    "ENDPOINTS",
    "PIXEL_GIF",
    "PREFLIGHT_HEADERS",
    "Config",
    "Outcome",
    "Request",
    "Response",
    "cut_short",
    "error_response",
    "handle",
    "internal_error",
    "route",
    "store_json",
    "too_large",
    "unavailable",
]
