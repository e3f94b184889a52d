"""Forward mode's decisions (``listen --forward``, ``--tee``), pure: where a request goes,
how it is rewritten for that server, and what the SDK gets back.

A request the listener recorded is sent on to the upstream (and copies to candidates) by
:func:`prepare`: :func:`~sentry_mirror.core.replay.rewrite.rewrite_request` with the
wire body, so the DSN is rewritten everywhere it appears (the URL's project, the key in
the auth header, query, Basic auth or path, the envelope ``dsn`` header, the dynamic
sampling ``trace.public_key``; a tunnel request goes to the envelope endpoint) and a body
that needs no change goes as it came, in its own Content-Encoding.

What the server answered (a :class:`Reply`) becomes the SDK's answer (:func:`sdk_answer`,
hop-by-hop headers and headers unfit to write left out: :func:`passed_headers`) and an
answer record (:func:`answer_record`, see :mod:`sentry_mirror.core.answer`), which keeps
every header as received.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sentry_mirror.core import answer
from sentry_mirror.core.auth import Dsn, masked, parse_dsn
from sentry_mirror.core.ingest import Response, error_response
from sentry_mirror.core.memo import Memo
from sentry_mirror.core.replay.rewrite import Prepared, Target, rewrite_request
from sentry_mirror.errors import MirrorError

#: ``--upstream-failure``: the mirror's own answer (the request is on disk), or the failure as it came.
FAILURE_MODES = ("answer", "pass")
#: Headers of one connection, never passed on (RFC 9110 7.6.1, and the framing the mirror writes itself).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer", "upgrade"})
#: What an HTTP header name is made of (RFC 9110 5.6.2, ``tchar``).
TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
#: What a header value written to the SDK must not hold: control characters but the tab
#: (RFC 9110 5.5; they would break or inject lines) and lone surrogates (no bytes to write).
UNFIT = re.compile("[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")
#: Bytes of an upstream's answer body passed back to the SDK at most (Sentry answers with a
#: few dozen); a bigger answer is not cut: the SDK gets a 502 (or the local answer) instead.
ANSWER_CAP = 1 << 20


@dataclass(frozen=True, slots=True)
class Destination:
    """A server requests are sent on to: its DSN, the rewrite for it, and its ``to`` (no key)."""

    dsn: Dsn
    target: Target
    to: str
    kind: str  # "upstream" or "candidate" (an answer record's ``target``)


#: The port a scheme implies: left out of ``to`` strings, so one server has one name.
DEFAULT_PORTS = {"http": 80, "https": 443}


def to_string(dsn: Dsn) -> str:
    """``scheme://host[:port][/path]/PROJECT``: where requests go, never the key or secret.

    One server, one string: the host in lower case, the port only when the scheme does not
    imply it (``https://sentry.io:443/1`` is ``https://sentry.io/1``). Duplicate targets and
    ``replay --undelivered``'s "the same server" compare these."""
    host = dsn.host.lower()
    port = "" if dsn.port is None or dsn.port == DEFAULT_PORTS.get(dsn.scheme) else f":{dsn.port}"
    return f"{dsn.scheme}://{host}{port}{dsn.path}/{dsn.project_id}"


def destination(text: str, kind: str) -> Destination:
    """The destination of DSN ``text``; :class:`MirrorError` when it is not a DSN."""
    dsn = parse_dsn(text)
    if not _HOST.fullmatch(dsn.host):  # caught now, not at the first connection
        raise MirrorError(f"invalid DSN {masked(text)!r}: {dsn.host!r} is not a host name or address")
    return Destination(dsn, Target(dsn), to_string(dsn), kind)


#: A host as a DSN names it: a name or IPv4 address, or an IPv6 address in brackets.
_HOST = re.compile(r"[A-Za-z0-9._~%-]+|\[[0-9A-Fa-f:.%A-Za-z]+\]")


def forwardable(entry: Mapping[str, Any]) -> bool:
    """Whether a recorded request can be sent on: its whole body arrived."""
    return not entry.get("body_truncated")


def prepare(entry: Mapping[str, Any], where: Destination, wire: bytes) -> Prepared:
    """The request ``entry`` (its record) rewritten for ``where``, its body the ``wire`` bytes
    when they need no change. Raises :class:`~sentry_mirror.core.replay.rewrite.NotReplayable`
    when it cannot be sent (a truncated body, a path that would leave the server)."""
    return rewrite_request(entry, where.target, wire=wire)


def passed_headers(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """An answer's headers as they are passed on: without the hop-by-hop ones, and without
    the ones that cannot be written as they are: a name that is not an HTTP token, a value
    holding a control character (a tab is fine). The others reach the SDK; the answer
    record keeps them all as received (its ``error`` stays null: the answer is usable).

    A server repeats its headers from one answer to the next (but for ``Date``, each
    second): the choice is made once for each set of them (:data:`PASSED` sets kept, each
    at most :data:`PASSED_SIZE` characters)."""
    given = tuple([(name, value) for name, value in headers])
    passed = _passed.get(given)
    if passed is None:
        passed = tuple([(name, value) for name, value in given if _passes(name, value)])
        _passed.keep(given, sum(len(name) + len(value) for name, value in given), passed)
    return passed


#: Sets of answer headers :func:`passed_headers` keeps its choice for (:data:`PASSED` at most,
#: each of at most :data:`PASSED_SIZE` characters, names and values).
PASSED = 256
PASSED_SIZE = 1024
_passed: Memo[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] = Memo(PASSED, PASSED_SIZE)


def _passes(name: str, value: str) -> bool:
    lower = name.lower()
    return lower not in HOP_BY_HOP and not lower.startswith("proxy-") and fit(name, value)


def fit(name: str, value: str) -> bool:
    """Whether the header ``name: value`` can be written to the SDK as it is."""
    return bool(name) and TOKEN.issuperset(name) and UNFIT.search(value) is None


@dataclass(frozen=True, slots=True)
class Reply:
    """What a server answered to one request sent on, or why there is no usable answer.

    ``status`` None: no answer (``error`` says why; ``timed_out`` for a timeout). With a
    status and an ``error``, the answer was unusable (its body over :data:`ANSWER_CAP`)."""

    status: int | None
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""
    size: int = 0
    latency_ms: float | None = None
    error: str | None = None
    timed_out: bool = False

    @property
    def usable(self) -> bool:
        """An answer to give the SDK as it is: a delivering one (2xx, 4xx), whole."""
        return answer.delivered(self.status) and self.error is None

    @property
    def server_error(self) -> bool:
        """A whole 5xx: what ``pass`` mode gives the SDK as it came."""
        return self.status is not None and 500 <= self.status < 600 and self.error is None


def sdk_answer(reply: Reply, local: Response, mode: str) -> tuple[Response, bool]:
    """(what the SDK gets, ``returned``: whether that is the upstream's answer, or in ``pass``
    mode the failure standing for it).

    A usable answer is passed through. A failure (no answer, a 5xx, a redirect, a 1xx or a
    status outside 100-599, an answer too big): ``answer`` mode gives the mirror's own answer
    ``local`` (the request is on disk); ``pass`` mode the 5xx as it came, a 504 for a
    timeout, a 502 for anything else (a redirect too: SDKs would follow it, sentry-python
    sending the envelope again wherever it points, past the mirror or back into it)."""
    if reply.usable or (mode == "pass" and reply.server_error):
        assert reply.status is not None
        return Response(reply.status, passed_headers(reply.headers), reply.body), True
    if mode == "answer":
        return local, False
    return error_response(502 if not reply.timed_out else 504, _one_line(_why(reply)), plain=True), True


def _why(reply: Reply) -> str:
    """Why ``reply`` is not passed on, for the ``pass`` mode's 502 or 504."""
    if reply.timed_out:
        return f"the upstream did not answer in time: {reply.error}"
    if reply.status is None:
        return f"the upstream could not be reached: {reply.error}"
    if reply.error is not None:
        return f"the upstream's answer cannot be passed on: {reply.error}"
    if 300 <= reply.status < 400:
        location = next((v for k, v in reply.headers if k.lower() == "location"), "")
        return f"the upstream redirected ({reply.status} to {location[:200]!r}); redirects are not followed"
    return f"the upstream's answer cannot be passed on: status {reply.status}"


def _one_line(text: str) -> str:
    """``text`` fit for a header (the 502's ``X-Sentry-Error``): control characters as spaces."""
    return UNFIT.sub(" ", text)


def item_types(entry: Mapping[str, Any]) -> list[str]:
    """The item types of a recorded request (its summary's), for its answer records."""
    return [str(item.get("type")) for item in (entry.get("summary") or {}).get("items") or ()]


def answer_record(
    entry: Mapping[str, Any],
    where: Destination,
    reply: Reply,
    answered_at: datetime,
    *,
    returned: bool = False,
    dropped: bool = False,
) -> dict[str, Any]:
    """The answer record of ``reply``, the answer of ``where`` to the request ``entry``."""
    return answer.build(
        request_id=str(entry["id"]),
        target=where.kind,
        to=where.to,
        answered_at=answered_at,
        endpoint=str(entry["endpoint"]),
        item_types=item_types(entry),
        status=reply.status,
        headers=reply.headers,
        body=reply.body,
        body_size=reply.size,
        latency_ms=reply.latency_ms,
        error=reply.error,
        returned=returned,
        dropped=dropped,
    )


def mirror_dsn(upstream: Dsn, netloc: str) -> str:
    """The DSN to paste into the SDK in forward mode: the upstream's key and project at the
    mirror's address (so the SDK needs no other change and bodies rarely need rewriting)."""
    return f"http://{upstream.public_key}@{netloc}/{upstream.project_id}"
