"""Reading an event: its exception chain, stack traces (its own, its exceptions', its
threads'), message and in-app frames, whatever shape the SDK gave them (lists or
``{"values": [...]}``, missing or mistyped parts read as absent)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def exceptions_of(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The exception chain (oldest first), the objects only."""
    exception = event.get("exception")
    values = exception.get("values") if isinstance(exception, dict) else exception
    return [value for value in values if isinstance(value, dict)] if isinstance(values, list) else []


def frames_of(container: Any) -> list[Mapping[str, Any]]:
    """The frames of ``container``'s ``stacktrace`` (an exception, a thread, an event)."""
    stacktrace = container.get("stacktrace") if isinstance(container, dict) else None
    frames = stacktrace.get("frames") if isinstance(stacktrace, dict) else None
    return [frame for frame in frames if isinstance(frame, dict)] if isinstance(frames, list) else []


def threads_of(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    threads = event.get("threads")
    values = threads.get("values") if isinstance(threads, dict) else threads
    return [thread for thread in values if isinstance(thread, dict)] if isinstance(values, list) else []


def exception_frames(event: Mapping[str, Any], exception: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """An exception's frames; a native exception without one points at its thread's."""
    frames = frames_of(exception)
    thread_id = exception.get("thread_id")
    if not frames and thread_id is not None:
        for thread in threads_of(event):
            if thread.get("id") == thread_id:
                return frames_of(thread)
    return frames


def event_frames(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The stack trace of an event without exception: top-level, or its single thread's."""
    frames = frames_of(event)
    if frames:
        return frames
    traced = [frames for thread in threads_of(event) if (frames := frames_of(thread))]
    return traced[0] if len(traced) == 1 else []


def message_text(event: Mapping[str, Any]) -> str | None:
    """``logentry.message`` (the template) when present, else ``formatted``, else ``message``."""
    for source in (event.get("logentry"), event.get("message")):
        if isinstance(source, dict):
            for key in ("message", "formatted"):
                text = source.get(key)
                if isinstance(text, str) and text.strip():
                    return text
        elif isinstance(source, str) and source.strip():
            return source
    return None


def is_synthetic(exception: Mapping[str, Any]) -> bool:
    mechanism = exception.get("mechanism")
    return isinstance(mechanism, dict) and mechanism.get("synthetic") is True


def in_app(frame: Mapping[str, Any]) -> bool:
    return frame.get("in_app") is True
