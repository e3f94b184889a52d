"""Readable summaries of what arrived, for assertion messages (:class:`~.model.WaitTimeout`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sentry_mirror.testing.model import Envelope

#: Envelopes listed in a summary; the rest are counted.
MAX_LINES = 20


def envelope_line(envelope: Envelope) -> str:
    """One line: time, SDK, method and path, status, item types, the event's title."""
    request = envelope.request
    types = ", ".join(item.type for item in envelope.items) or "no items"
    line = (
        f"{request.received_at:%H:%M:%S.%f}"[:-3]
        + f"  {request.sdk or '-'}  {request.method} {request.path} -> {request.status}  [{types}]"
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
    what = f"{count} item(s)" + (f" of type {type!r}" if type else "")
    if predicate is not None:
        what += f" matching {getattr(predicate, '__qualname__', repr(predicate))}"
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
