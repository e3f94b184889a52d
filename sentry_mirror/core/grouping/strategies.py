"""The grouping strategies (:data:`STRATEGIES`): ``sentry`` (the default: the explicit
fingerprint, else Sentry's default grouping), ``type`` (exception types only), ``message``
(the normalised message or exception value only) and ``fingerprint`` (the explicit
fingerprint only). A strategy maps an event to its grouping components."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sentry_mirror.core.grouping.components import NO_GROUPING_INFO, Components, default_components, type_component
from sentry_mirror.core.grouping.event_parts import exceptions_of, is_synthetic, message_text
from sentry_mirror.core.grouping.fingerprint import expand_fingerprint, explicit_fingerprint
from sentry_mirror.core.grouping.normalize import normalize_message

Strategy = Callable[[Mapping[str, Any]], Components]

DEFAULT_STRATEGY = "sentry"
NO_FINGERPRINT = "<no fingerprint>"


def sentry_components(event: Mapping[str, Any]) -> Components:
    """The explicit fingerprint (``{{ default }}`` and the other variables expanded), else
    :func:`default_components`."""
    values = explicit_fingerprint(event)
    return default_components(event) if values is None else expand_fingerprint(event, values)


def type_components(event: Mapping[str, Any]) -> Components:
    """The exception types of the chain, else the normalised message."""
    types = [
        type_component(kind)
        for exception in exceptions_of(event)
        if isinstance(kind := exception.get("type"), str) and kind.strip() and not is_synthetic(exception)
    ]
    if types:
        return tuple(types)
    message = message_text(event)
    return (f"message:{normalize_message(message)}",) if message is not None else (NO_GROUPING_INFO,)


def message_components(event: Mapping[str, Any]) -> Components:
    """The normalised message, else the raised exception's normalised value (else its type)."""
    text = message_text(event)
    if text is None:
        exceptions = exceptions_of(event)
        last = exceptions[-1] if exceptions else {}
        for key in ("value", "type"):
            value = last.get(key)
            if isinstance(value, str) and value.strip():
                text = value
                break
    return (f"message:{normalize_message(text)}",) if text is not None else (NO_GROUPING_INFO,)


def fingerprint_components(event: Mapping[str, Any]) -> Components:
    """The explicit fingerprint only; events without one share the ``<no fingerprint>`` group."""
    values = explicit_fingerprint(event)
    return (NO_FINGERPRINT,) if values is None else expand_fingerprint(event, values)


#: The grouping strategies by name; ``sentry`` is the default.
STRATEGIES: Mapping[str, Strategy] = {
    "sentry": sentry_components,
    "type": type_components,
    "message": message_components,
    "fingerprint": fingerprint_components,
}


def get_strategy(strategy: str | Strategy) -> Strategy:
    """The strategy function for a name in :data:`STRATEGIES` (a function is returned as is)."""
    if callable(strategy):
        return strategy
    try:
        return STRATEGIES[strategy]
    except KeyError:
        raise ValueError(f"unknown grouping strategy {strategy!r} (choose from: {', '.join(STRATEGIES)})") from None


def components(event: Mapping[str, Any], strategy: str | Strategy = DEFAULT_STRATEGY) -> Components:
    """The grouping components of one event under ``strategy``."""
    return get_strategy(strategy)(event)
