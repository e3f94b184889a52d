"""Answer records: what a server the mirror sent a request on to answered (pure).

In forward mode (``listen --forward``, ``--tee``) a request is recorded first, as always;
then it is sent on, and what each server answered is recorded as a line of its own, an
*answer record*, in the same snapshot, pointing at the request by its id. ``replay
--undelivered`` records its answers the same way, so a request is delivered once.

Fields (format version 1, ``kind`` is what tells them from request records):

``v``              format version (1)
``kind``           ``"answer"``
``id``             unique, time-ordered 32-hex id (as a request record's)
``received_at``    UTC time the answer was complete (or given up), as a request record's
``request_id``     the id of the request record it answers
``target``         ``"upstream"`` (``--forward``, whose answer the SDK gets) or ``"candidate"`` (``--tee``)
``to``             where it was sent: scheme, host, port and DSN path, never the key
``via``            ``"listen"`` (sent on as it came) or ``"replay"`` (``replay --undelivered``)
``endpoint``       the request's endpoint, and ``item_types`` its envelope item types
                   (copied, so an answer is understood without its request)
``status``         the HTTP status, or null when there was no answer
``headers``        the answer's headers as ``[name, value]``, as received (also the ones not
                   passed to the SDK: hop-by-hop, or unfit to write: see
                   :func:`sentry_mirror.core.forwarding.passed_headers`)
``body``           the answer's body, its first :data:`BODY_KEEP` bytes: UTF-8 text, or
                   base64 when ``body_base64``; ``body_size`` counts all of it
``latency_ms``     from the request written to the answer complete (null when not sent)
``error``          why there is no (usable) answer: a connection error, a timeout, a full queue
``delivered``      true when the server took the request: it answered 2xx, or 4xx (its own
                   verdict on the request); no answer, 1xx, 3xx (a redirect: the request
                   was not taken where it was sent), 5xx or a status outside 100-599 is not
``returned``       true when this answer is what the SDK received
``dropped``        true when the request was never sent (a candidate's queue was full)
``mirror``         ``{version}`` of the sentry-mirror that wrote it
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sentry_mirror import __version__
from sentry_mirror.core.record import encode_bytes, format_time, new_id
from sentry_mirror.core.tolerant import json_type, json_type_of

KIND = "answer"
TARGETS = ("upstream", "candidate")
VIAS = ("listen", "replay")
#: Bytes of an answer's body kept in its record (Sentry answers with a few dozen).
BODY_KEEP = 16 * 1024

NONE = type(None)
_FIELDS: tuple[tuple[str, tuple[type, ...]], ...] = (
    ("id", (str,)),
    ("received_at", (str,)),
    ("request_id", (str,)),
    ("target", (str,)),
    ("to", (str,)),
    ("via", (str,)),
    ("endpoint", (str,)),
    ("item_types", (list,)),
    ("status", (int, NONE)),
    ("headers", (list,)),
    ("body", (str,)),
    ("body_base64", (bool,)),
    ("body_size", (int,)),
    ("latency_ms", (float, int, NONE)),
    ("error", (str, NONE)),
    ("delivered", (bool,)),
    ("returned", (bool,)),
    ("dropped", (bool,)),
)


def is_answer(data: Mapping[str, Any]) -> bool:
    """True for an answer record (a request record has no ``kind``)."""
    return data.get("kind") == KIND


def delivered(status: int | None) -> bool:
    """Did the server take the request? A 2xx, or a 4xx (the server's own verdict on it,
    given to the SDK as it is). No answer, a 1xx, a redirect (3xx: not taken where it was
    sent), a 5xx, or a status outside 100-599 is not delivered."""
    return status is not None and (200 <= status < 300 or 400 <= status < 500)


def build(
    *,
    request_id: str,
    target: str,
    to: str,
    answered_at: datetime,
    endpoint: str,
    item_types: Iterable[str] = (),
    status: int | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    body_size: int | None = None,
    latency_ms: float | None = None,
    error: str | None = None,
    returned: bool = False,
    dropped: bool = False,
    via: str = "listen",
) -> dict[str, Any]:
    """The answer record for one request sent on to ``to`` (see the module docstring)."""
    text, is_base64 = encode_bytes(body[:BODY_KEEP])
    return {
        "v": 1,
        "kind": KIND,
        "id": new_id(),
        "received_at": format_time(answered_at),
        "request_id": request_id,
        "target": target,
        "to": to,
        "via": via,
        "endpoint": endpoint,
        "item_types": list(item_types),
        "status": status,
        "headers": [[name, value] for name, value in headers],
        "body": text,
        "body_base64": is_base64,
        "body_size": len(body) if body_size is None else body_size,
        "latency_ms": None if latency_ms is None else round(latency_ms, 3),
        "error": error,
        "delivered": delivered(status) and not dropped,
        "returned": returned,
        "dropped": dropped,
        "mirror": {"version": __version__},
    }


def problem(data: Mapping[str, Any]) -> str | None:
    """Why the answer record ``data`` cannot be read, or None (the readers' one check)."""
    for name, types in _FIELDS:
        if name not in data:
            return f"no field {name}"
        value = data[name]
        if type(value) not in types:
            return f"{name} is {json_type(value)}, not {' or '.join(json_type_of(t) for t in types)}"
    if data["target"] not in TARGETS:
        return f"target is not one of {', '.join(TARGETS)}"
    if data["via"] not in VIAS:
        return f"via is not one of {', '.join(VIAS)}"
    if not all(type(t) is str for t in data["item_types"]):
        return "item_types are not a list of text"
    for pair in data["headers"]:
        if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str or type(pair[1]) is not str:
            return "headers are not [name, value] pairs of text"
    received = data["received_at"]
    if len(received) != 27 or received[-1] != "Z" or received[10] != "T":
        return f"received_at is not a UTC time as sentry-mirror writes it ({received[:40]!r})"
    return None
