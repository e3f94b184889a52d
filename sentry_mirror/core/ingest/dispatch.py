"""The entry points: :func:`handle` answers a request as Relay would, and the answers
to requests the listener could not hand over whole (too large, cut short, a bug)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sentry_mirror.core import encoding
from sentry_mirror.core.ingest.answers import CORS_HEADERS, PREFLIGHT_HEADERS, error_response, unavailable
from sentry_mirror.core.ingest.authn import authenticate
from sentry_mirror.core.ingest.endpoints import (
    handle_attachments,
    handle_cron,
    handle_minidump,
    handle_nel,
    handle_otlp,
    handle_security,
    handle_unreal,
)
from sentry_mirror.core.ingest.envelopes import handle_envelope, handle_tunnel
from sentry_mirror.core.ingest.model import Config, Outcome, Reject, Request, Response, State
from sentry_mirror.core.ingest.routes import route
from sentry_mirror.core.ingest.store import handle_store
from sentry_mirror.core.ingest.tus import handle_tus
from sentry_mirror.errors import BodyTooLarge, DecodeError, UnsupportedEncoding


def handle(request: Request, config: Config = Config()) -> Outcome:
    """Answer ``request`` as Relay would, and summarise what it carried. Never raises."""
    name, params, methods = route(request.method, request.path, config.tunnel_path)
    state = State(endpoint=name, body=request.body)
    try:
        response = _dispatch(request, config, state, name, params, methods)
        error = None
    except Reject as reject:
        response = error_response(reject.status, reject.detail, reject.causes, plain=reject.plain)
        if reject.headers:
            response.headers = (*reject.headers, *response.headers)
        error = "; ".join((reject.detail, *reject.causes))
    return Outcome(
        response=response,
        endpoint=state.endpoint,
        body=state.body,
        decoded=state.decoded,
        encoding=state.encoding,
        project_id=state.project_id,
        auth=state.auth,
        event_id=state.event_id,
        envelope_header=state.envelope_header,
        items=tuple(state.items),
        facts=state.facts,
        error=error,
        notes=tuple(state.notes),
        items_total=state.items_total,
    )


def too_large(request: Request, config: Config, wire_size: int) -> Outcome:
    """The 413 for a body whose wire size alone passes ``config.max_body``.

    ``request.body`` holds only the start of the body, which the record keeps.
    """
    detail = f"length limit exceeded: the body is over {config.max_body} bytes ({wire_size} bytes or more)"
    return _unread(request, config.tunnel_path, error_response(413, detail, plain=True), detail)


def cut_short(request: Request, config: Config, wire_size: int, why: str) -> Outcome:
    """The answer to a request whose body did not arrive whole, ``request.body`` holding
    what did: ``why`` is ``timeout`` (408: the client stopped sending), ``shutdown`` (503:
    the listener is stopping; retry) or the framing error that ended it (400)."""
    if why == "timeout":
        detail = f"request timeout: the body stopped arriving after {wire_size} bytes"
        response = error_response(408, detail, plain=True)
    elif why == "shutdown":
        detail = f"the mirror is shutting down: the body was not complete ({wire_size} bytes received); retry"
        response = unavailable(detail)
    else:
        detail = f"failed to read request body: {why}"
        response = error_response(400, detail, plain=True)
    return _unread(request, config.tunnel_path, response, detail)


def internal_error(request: Request, exc: BaseException) -> Outcome:
    """A 500 for a request the mirror failed to understand (a bug): still answered with
    CORS, and still recorded, body as received, with what went wrong."""
    detail = f"internal error in sentry-mirror: {type(exc).__name__}: {exc}"
    return _unread(request, "/tunnel", error_response(500, detail), detail)


def _unread(request: Request, tunnel_path: str, response: Response, detail: str) -> Outcome:
    """The outcome of a request answered without reading its body: the body kept as received."""
    name, params, _ = route(request.method, request.path, tunnel_path)
    pid = params.get("pid", "")
    return Outcome(
        response=response,
        endpoint=name,
        body=request.body,
        decoded=False,
        project_id=pid if pid.isdigit() else None,
        error=detail,
    )


def _dispatch(
    request: Request, config: Config, state: State, name: str, params: Mapping[str, str], methods: frozenset[str]
) -> Response:
    method = request.method.upper()
    if method == "OPTIONS" and request.header("access-control-request-method") is not None:
        return Response(200, (*PREFLIGHT_HEADERS, *CORS_HEADERS))
    if name == "unknown" or method not in methods:
        try:  # keep a readable body for the record; the answer does not depend on it
            _decode_body(request, config, state)
        except Reject:
            pass
        if name == "unknown":
            raise Reject(404, f"not found: {request.path} is not a Sentry ingestion endpoint")
        raise Reject(405, f"method {method} not allowed on the {name} endpoint (allowed: {', '.join(sorted(methods))})")
    if "pid" in params:
        if not params["pid"].isdigit():
            raise Reject(400, "bad project path parameter")
        state.project_id = params["pid"]
    _decode_body(request, config, state)
    handler = HANDLERS[name]
    if name != "tunnel":
        authenticate(request, config, state, params.get("key"), allow_envelope_dsn=name == "envelope")
    return handler(request, config, state, params)


def _decode_body(request: Request, config: Config, state: State) -> None:
    try:
        state.encoding = encoding.normalize_encoding(request.header("content-encoding"))
        state.body = encoding.decode(state.encoding, request.body, max_size=config.max_body)
    except UnsupportedEncoding as exc:
        raise Reject(415, str(exc)) from None
    except BodyTooLarge as exc:
        raise Reject(413, f"length limit exceeded: {exc}", plain=True) from None
    except DecodeError as exc:
        raise Reject(400, f"failed to read request body: {exc}", plain=True) from None
    state.decoded = True


HANDLERS: dict[str, Callable[[Request, Config, State, Mapping[str, str]], Response]] = {
    "envelope": handle_envelope,
    "tunnel": handle_tunnel,
    "store": handle_store,
    "security": handle_security,
    "nel": handle_nel,
    "minidump": handle_minidump,
    "unreal": handle_unreal,
    "attachments": handle_attachments,
    "cron": handle_cron,
    "otlp": handle_otlp,
    "tus_upload": handle_tus,
}
