"""Who sent a request: the request's auth, or the envelope header's ``dsn`` (tunnels),
checked against each other and against the accepted keys."""

from __future__ import annotations

from typing import Any

from sentry_mirror.core import leanjson
from sentry_mirror.core.auth import Auth, AuthError, parse_dsn, request_auth
from sentry_mirror.core.ingest.model import Config, Reject, Request, State, require_body
from sentry_mirror.errors import MirrorError


def authenticate(
    request: Request, config: Config, state: State, path_key: str | None, *, allow_envelope_dsn: bool
) -> None:
    try:
        auth = request_auth(request.index, request.query, path_key)
    except AuthError as exc:
        raise Reject(exc.status, str(exc)) from None
    if auth is None:
        if not allow_envelope_dsn:
            raise Reject(401, "missing authorization information")
        require_body(state)  # Relay checks for an empty body before it reads the envelope header
        auth = envelope_dsn_auth(state.body, state)
    else:
        _check_envelope_dsn(request, state, auth)
    accept_key(auth, config, state)


def accept_key(auth: Auth, config: Config, state: State) -> None:
    state.auth = auth
    if config.keys and _project_key(auth.public_key) not in config.keys:
        raise Reject(403, "event submission rejected with_reason: ProjectId")


def _project_key(public_key: str) -> str:
    """The key without Relay's flags (``<key>.no-cache`` is the key ``<key>``)."""
    return public_key.partition(".")[0]


def first_line_json(body: bytes) -> dict[str, Any] | None:
    """The first line parsed, when it is a JSON object (long strings cut: core/leanjson.py)."""
    end = body.find(b"\n")
    try:
        value = leanjson.loads(body, 0, len(body) if end < 0 else end)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def envelope_dsn_auth(body: bytes, state: State) -> Auth:
    """Authenticate from the envelope header's ``dsn`` (tunnels), as Relay does."""
    headers = first_line_json(body) or {}
    try:
        dsn = parse_dsn(headers["dsn"])
    except (KeyError, TypeError, AttributeError, MirrorError):
        raise Reject(401, "bad envelope authentication header") from None
    if state.project_id is None:
        state.project_id = dsn.project_id
    elif dsn.project_id != state.project_id:
        raise Reject(400, "invalid event envelope", ("project id header mismatch between envelope and request",))
    sdk = headers.get("sdk")
    client = f"{sdk.get('name')}/{sdk.get('version')}" if isinstance(sdk, dict) and sdk.get("name") else None
    return Auth("envelope-dsn", dsn.public_key, sentry_client=client, dsn=headers["dsn"])


def _check_envelope_dsn(request: Request, state: State, auth: Auth) -> None:
    """With request auth present, an envelope ``dsn`` and ``origin`` must agree (else 400)."""
    if state.endpoint != "envelope":  # before taking the first line: a store body is one line, up to 200 MiB
        return
    end = state.body.find(b"\n")
    stop = len(state.body) if end < 0 else end
    if state.body.find(b'"dsn"', 0, stop) < 0 and state.body.find(b'"origin"', 0, stop) < 0:
        return
    headers = first_line_json(state.body) or {}
    if isinstance(headers.get("dsn"), str):
        try:
            dsn = parse_dsn(headers["dsn"])
        except MirrorError:
            raise Reject(400, "invalid event envelope", ("invalid envelope header",)) from None
        if state.project_id is not None and dsn.project_id != state.project_id:
            raise Reject(400, "invalid event envelope", ("project id header mismatch between envelope and request",))
        if _project_key(dsn.public_key) != _project_key(auth.public_key):
            raise Reject(400, "invalid event envelope", ("public key header mismatch between envelope and request",))
    origin = headers.get("origin")
    if isinstance(origin, str) and origin != request.header("origin"):
        raise Reject(400, "invalid event envelope", ("origin header mismatch between envelope and request",))
