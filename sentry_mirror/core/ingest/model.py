"""The types a request goes through: a :class:`Request` in, an :class:`Outcome` out.

Between them a handler fills a :class:`State` and stops with a :class:`Reject` (Relay's
error answer); :class:`Config` says how the mirror answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sentry_mirror.core import encoding, multipart
from sentry_mirror.core.auth import Auth, Headers, header_index
from sentry_mirror.core.summary import Facts


@dataclass(frozen=True, slots=True)
class Config:
    """How the mirror answers. ``keys`` empty means any key is accepted."""

    keys: frozenset[str] = frozenset()
    tunnel_path: str = "/tunnel"
    max_body: int = encoding.DEFAULT_MAX_BODY


# Request, Response and Outcome are made for every request the listener takes, and are not
# changed once made; they are not frozen because a frozen dataclass costs five times as much
# to make (measured: 4% of the listener's CPU per envelope for these three).


@dataclass(slots=True)
class Request:
    """A request as received: ``body`` is the wire body, before Content-Encoding is undone."""

    method: str
    path: str
    query: str = ""
    headers: Headers = ()
    body: bytes = b""
    #: lower-cased name → the first value: each request is asked for several headers
    index: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.index = header_index(self.headers)

    def header(self, name: str) -> str | None:
        return self.index.get(name.lower())

    @property
    def content_type(self) -> str:
        return multipart.content_type_params(self.header("content-type") or "")[0]


@dataclass(slots=True)
class Response:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


@dataclass(slots=True)
class Outcome:
    """The answer to one request and what the mirror understood of it.

    ``body`` is the decoded body when decoding worked (``decoded`` True), else the wire
    body as received, so a record always holds the bytes that explain the answer.
    """

    response: Response
    endpoint: str
    body: bytes
    decoded: bool
    encoding: str | None = None
    project_id: str | None = None
    auth: Auth | None = None
    event_id: str | None = None
    envelope_header: dict[str, Any] | None = None
    items: tuple[dict[str, Any], ...] = ()
    facts: Facts = Facts()  # noqa: RUF009 - frozen, shared safely
    error: str | None = None
    notes: tuple[str, ...] = ()
    items_total: int | None = None  # set when ``items`` lists only the first ones

    @property
    def sdk(self) -> str | None:
        """``name/version`` of the sending SDK, from the envelope header or the auth."""
        sdk = (self.envelope_header or {}).get("sdk")
        if isinstance(sdk, dict) and sdk.get("name"):
            return f"{sdk.get('name')}/{sdk.get('version', '')}".rstrip("/")
        return self.auth.sentry_client if self.auth else None


class Reject(Exception):
    """Relay's error answer: ``headers`` go before the error's own (the TUS endpoint's ``Tus-Resumable``)."""

    def __init__(
        self,
        status: int,
        detail: str,
        causes: tuple[str, ...] = (),
        *,
        plain: bool = False,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.status, self.detail, self.causes, self.plain = status, detail, causes, plain
        self.headers = headers


@dataclass(slots=True)
class State:
    """What a handler learns as it goes; frozen into the Outcome at the end."""

    endpoint: str
    body: bytes
    decoded: bool = False
    encoding: str | None = None
    project_id: str | None = None
    auth: Auth | None = None
    event_id: str | None = None
    envelope_header: dict[str, Any] | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    facts: Facts = Facts()  # noqa: RUF009 - frozen, shared safely
    notes: list[str] = field(default_factory=list)
    items_total: int | None = None


def require_body(state: State) -> None:
    if not state.body:
        raise Reject(400, "empty request body")
