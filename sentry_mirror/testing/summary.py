"""Readable summaries of what arrived, for assertion messages (:class:`~.model.WaitTimeout`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sentry_mirror.core.text import visible
from sentry_mirror.testing.model import Envelope

#: Envelopes listed in a summary; the rest are counted.
MAX_LINES = 20
#: The most characters of one captured name (SDK, path, item type, field path) shown.
MAX_NAME = 120


def shown(value: object, limit: int = MAX_NAME) -> str:
    """Captured text as one visible line (terminal escapes, newlines shown escaped), capped."""
    text = visible(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def envelope_line(envelope: Envelope) -> str:
    """One line: time, SDK, method and path, status, item types, the event's title."""
    request = envelope.request
    types = shown(", ".join(item.type for item in envelope.items) or "no items", 4 * MAX_NAME)
    line = (
        f"{request.received_at:%H:%M:%S.%f}"[:-3]
        + f"  {shown(request.sdk or '-')}  {shown(request.method, 16)} {shown(request.path)}"
        + f" -> {request.status}  [{types}]"
    )
    title = request.title
    return f"{line}  {title!r}" if title else line


def arrived(envelopes: Sequence[Envelope], limit: int = MAX_LINES) -> str:
    """What arrived, one line per envelope (at most ``limit``, then how many more)."""
    if not envelopes:
        return "nothing arrived"
    lines = [f"{len(envelopes)} request(s) arrived:"]
    lines += ["  " + envelope_line(envelope) for envelope in envelopes[:limit]]
    if len(envelopes) > limit:
        lines.append(f"  ... and {len(envelopes) - limit} more")
    return "\n".join(lines)


def wanted(count: int, type: str | None, predicate: Callable[..., Any] | None) -> str:
    """What a wait was for, in words."""
    what = f"{count} item(s)" + (f" of type {shown(repr(type))}" if type else "")
    if predicate is not None:
        what += f" matching {shown(getattr(predicate, '__qualname__', repr(predicate)))}"
    return what


def timeout_message(
    seconds: float,
    count: int,
    type: str | None,
    predicate: Callable[..., Any] | None,
    found: int,
    envelopes: Sequence[Envelope],
) -> str:
    return f"waited {seconds:g} s for {wanted(count, type, predicate)}, found {found}; " + arrived(envelopes)
