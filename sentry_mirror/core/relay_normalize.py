"""What Sentry's ingestion would store for one event: the payload run through Relay's store
normaliser (``sentry_relay.StoreNormalizer``, trimming on) and then its PII scrubber with the
default data scrubbing settings (``sentry_relay.pii_strip_event``), both from the optional
``sentry-relay`` package, imported when first used.

Relay is told what its own pipeline would tell it: the item type decides the event type
(an ``event`` item's ``type`` is dropped and inferred, a ``transaction`` item is a
transaction, a ``feedback`` item is user feedback), the record's receive time is the
server time (timestamps more than :data:`MAX_SECS_IN_PAST` before it or
:data:`MAX_SECS_IN_FUTURE` after it are replaced by it, as Sentry's defaults do), and fields
outside the protocol are removed. Not modelled: clock drift correction from the envelope's
``sent_at``, inbound filters, and a project's own scrubbing rules.

:func:`normalize` never raises: what Relay refuses to store comes back as a
:class:`Normalized` with ``rejected`` set (the reason Relay gives), anything else Relay (or
the JSON bridge) raised as ``failed``.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any

from sentry_mirror.core.pii.relay import default_config

#: Sentry's ``MAX_SECS_IN_FUTURE`` and ``MAX_SECS_IN_PAST`` (30 days).
MAX_SECS_IN_FUTURE = 60
MAX_SECS_IN_PAST = 30 * 24 * 3600
#: Item types whose payloads go through Relay's event normaliser, with the event type each forces
#: (None: inferred from the payload, as Relay does for ``event`` items).
EVENT_TYPES: dict[str, str | None] = {"event": None, "transaction": "transaction", "feedback": "feedback"}
#: Relay's errors that mean "not stored", by exception class name, with what prefixes the
#: message (a transaction's already says ``invalid transaction event: …``).
REJECTIONS = {"ProcessingErrorInvalidTransaction": "", "InvalidJsonError": "invalid JSON: "}
MAX_REASON = 160
_POSITION = re.compile(r" at line \d+ column \d+")

__all__ = ["EVENT_TYPES", "MAX_SECS_IN_FUTURE", "MAX_SECS_IN_PAST", "Normalized", "normalize"]


@dataclass(frozen=True)
class Normalized:
    """One event's fate: ``event`` as it would be stored (with its ``_meta``), or why not
    (``rejected``: Relay refuses it; ``failed``: Relay could not be asked)."""

    event: dict[str, Any] | None = None
    rejected: str | None = None
    failed: str | None = None


def _relay() -> Any:
    return importlib.import_module("sentry_relay")  # untyped: its functions are not declared


def _reason(exc: Exception) -> str:
    """The first line of what Relay said (its backtrace left out), without JSON positions."""
    text = str(getattr(exc, "message", None) or exc)
    return _POSITION.sub("", text.splitlines()[0] if text.strip() else "")[:MAX_REASON]


def normalize(payload: dict[str, Any], item_type: str, received_at: str | None = None) -> Normalized:
    """``payload`` (an item of ``item_type``, one of :data:`EVENT_TYPES`) as Relay would store
    it, judged at ``received_at`` (RFC 3339; now when None). Raises ImportError without
    ``sentry-relay``; never raises on the payload."""
    relay = _relay()
    event = dict(payload)
    forced = EVENT_TYPES.get(item_type)
    if forced is None:
        event.pop("type", None)
    else:
        event["type"] = forced
    config: dict[str, Any] = {"enable_trimming": True, "remove_other": True, "max_secs_in_future": MAX_SECS_IN_FUTURE,
                              "max_secs_in_past": MAX_SECS_IN_PAST}  # fmt: skip
    if received_at:
        config["received_at"] = received_at
    try:
        try:
            normalizer = relay.StoreNormalizer(**config)
        except Exception:  # an unreadable receive time: judge at the present instead
            normalizer = relay.StoreNormalizer(**{k: v for k, v in config.items() if k != "received_at"})
        stored = normalizer.normalize_event(event)
    except Exception as exc:
        name = type(exc).__name__
        if name in REJECTIONS:
            return Normalized(rejected=REJECTIONS[name] + _reason(exc))
        return Normalized(failed=f"{name}: {_reason(exc)}")
    if not isinstance(stored, dict) or not set(stored) - {"_meta"}:
        return Normalized(rejected="no event payload: not a JSON object")
    try:
        scrubbed = relay.pii_strip_event(default_config(), stored)
    except Exception as exc:
        return Normalized(failed=f"pii_strip_event: {type(exc).__name__}: {_reason(exc)}")
    return Normalized(event=scrubbed)
