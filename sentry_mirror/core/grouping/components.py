"""Grouping components: the short, self-describing strings an event is grouped by, as
Sentry's default grouping picks them (exception chain with its stack traces, else the
event's stack trace, else its message); :func:`default_components`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sentry_mirror.core.grouping.event_parts import (
    event_frames,
    exception_frames,
    exceptions_of,
    in_app,
    is_synthetic,
    message_text,
)
from sentry_mirror.core.grouping.normalize import (
    CACHE_SIZE,
    frame_location,
    normalize_function,
    normalize_message,
    normalize_type,
)

Components = tuple[str, ...]

NO_GROUPING_INFO = "<no grouping info>"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _frame_components(event: Mapping[str, Any], frames: Sequence[Mapping[str, Any]]) -> list[str]:
    components: list[str] = []
    last = None
    event_platform = event.get("platform")
    for frame in frames:
        get = frame.get
        module, function = get("module"), get("function")
        filename, platform = get("filename") or get("abs_path"), get("platform") or event_platform
        try:
            component = _frame_component(module, filename, function, platform)
        except TypeError:  # a list or an object where a name belongs: no name
            component = _frame_component(_text(module), _text(filename), _text(function), _text(platform))
        if component is not None and component != last:  # direct recursion adds nothing
            components.append(component)
            last = component
    return components


@lru_cache(maxsize=CACHE_SIZE)
def _frame_component(
    module: str | None, filename: str | None, function: str | None, platform: str | None
) -> str | None:
    """``frame:<where>:<function>``; None when the frame has neither. Values that are not
    text count as missing."""
    where = frame_location(_text(module), _text(filename))
    name = normalize_function(function, _text(platform))
    if where is None and name is None:
        return None
    return f"frame:{where or ''}:{name or ''}"


def _stack_components(event: Mapping[str, Any], frames: Sequence[Mapping[str, Any]], app_only: bool) -> list[str]:
    return _frame_components(event, [frame for frame in frames if frame.get("in_app") is True] if app_only else frames)


@lru_cache(maxsize=CACHE_SIZE)
def type_component(kind: str) -> str:
    return f"type:{normalize_type(kind)}"


def _exception_components(event: Mapping[str, Any]) -> list[str]:
    """Each exception of the chain, oldest first: its type, then its contributing frames
    (in-app ones when any frame of the chain is in-app, else all), or its normalised
    value when no frame contributes."""
    chain = []
    app_only = False
    for exception in exceptions_of(event):
        frames = exception_frames(event, exception)
        app_frames = [frame for frame in frames if frame.get("in_app") is True]
        app_only = app_only or bool(app_frames)
        chain.append((exception, frames, app_frames))
    components: list[str] = []
    for exception, frames, app_frames in chain:
        synthetic = is_synthetic(exception)
        kind = exception.get("type")
        if isinstance(kind, str) and kind.strip() and not synthetic:
            components.append(type_component(kind))
        stack = _frame_components(event, app_frames if app_only else frames)
        if stack:
            components += stack
            continue
        value = exception.get("value")
        if isinstance(value, str) and value.strip() and not synthetic:
            components.append(f"value:{normalize_message(value)}")
    return components


def default_components(event: Mapping[str, Any]) -> Components:
    """Sentry's grouping without the fingerprint: exception chain, else the event's own
    stack trace (in-app frames, else all), else the normalised message."""
    components = _exception_components(event)
    if components:
        return tuple(components)
    frames = event_frames(event)
    components = _stack_components(event, frames, any(in_app(frame) for frame in frames))
    if components:
        return tuple(components)
    message = message_text(event)
    if message is not None:
        return (f"message:{normalize_message(message)}",)
    return (NO_GROUPING_INFO,)
