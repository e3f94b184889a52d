"""What the check reads from an event: its JavaScript frames (exceptions' stack traces, else
the event's own or its single thread's), the ``sourcemap`` images of ``debug_meta`` (which
file has which debug id) and the native images (debug ids to find among debug files)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sentry_mirror.core import grouping
from sentry_mirror.core.sourcemaps.bundle import normalize_debug_id

#: Event platforms whose frames are JavaScript (a frame may say its own platform too).
#: The platforms whose frames source maps resolve (one home: the report reads it too).
JS_PLATFORMS = frozenset({"javascript", "node"})
#: Frames read per event (Relay keeps fewer: a bound against hostile input only).
MAX_FRAMES = 500


@dataclass(frozen=True)
class Frame:
    """A JavaScript frame as sent: where (``abs_path``, else ``filename``; ``filename`` kept
    too when it differs), and whether the SDK marked it in-app."""

    abs_path: str
    lineno: object
    colno: object
    function: str | None
    in_app: bool
    filename: str | None = None


@dataclass(frozen=True)
class Event:
    """The parts of an event the check needs."""

    event_id: str | None
    record_id: str | None
    release: str | None
    dist: str | None
    platform: str
    frames: tuple[Frame, ...]
    debug_ids: tuple[tuple[str, str], ...]  # (code_file, debug id) of sourcemap images
    native: tuple[tuple[str, str], ...]  # (debug id, code_file or "") of other images

    def debug_id_of(self, frame: Frame) -> str | None:
        """The debug id the event's ``sourcemap`` images give the frame's file (their
        ``code_file`` is the frame's ``abs_path``, or its ``filename``)."""
        for code_file, debug_id in self.debug_ids:
            if code_file == frame.abs_path or code_file == frame.filename:
                return debug_id
        return None


def read_event(payload: Mapping[str, Any], record_id: str | None) -> Event | None:
    """The check's view of ``payload``; None when it has neither JavaScript frames nor images."""
    platform = _text(payload.get("platform")) or ""
    sourcemaps, native = _images(payload.get("debug_meta"))
    frames = tuple(_frames(payload, platform)) if platform in JS_PLATFORMS or sourcemaps else ()
    if not frames and not native:
        return None
    return Event(
        event_id=_text(payload.get("event_id")),
        record_id=record_id,
        release=_text(payload.get("release")),
        dist=_text(payload.get("dist")),
        platform=platform,
        frames=frames,
        debug_ids=tuple(sourcemaps),
        native=tuple(native),
    )


def _frames(event: Mapping[str, Any], platform: str) -> list[Frame]:
    found = [f for x in grouping.exceptions_of(event) for f in grouping.frames_of(x)] or grouping.event_frames(event)
    frames = []
    for frame in found[:MAX_FRAMES]:
        own = frame.get("platform")
        if isinstance(own, str) and own not in JS_PLATFORMS and own != platform:
            continue
        path = _text(frame.get("abs_path")) or _text(frame.get("filename")) or ""
        filename = _text(frame.get("filename"))
        frames.append(
            Frame(
                abs_path=path[:2048],
                lineno=frame.get("lineno"),
                colno=frame.get("colno"),
                function=(_text(frame.get("function")) or "")[:200] or None,
                in_app=frame.get("in_app") is True,
                filename=filename[:2048] if filename and filename != path else None,
            )
        )
    return frames


def _images(debug_meta: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    images = debug_meta.get("images") if isinstance(debug_meta, dict) else None
    sourcemaps: list[tuple[str, str]] = []
    native: list[tuple[str, str]] = []
    for image in images if isinstance(images, list) else ():
        if not isinstance(image, dict):
            continue
        debug_id = normalize_debug_id(image.get("debug_id") or image.get("uuid"))
        if debug_id is None:
            continue
        code_file = (_text(image.get("code_file")) or "")[:2048]
        if image.get("type") == "sourcemap":
            if code_file:
                sourcemaps.append((code_file, debug_id))
        else:
            native.append((debug_id, code_file))
    return sourcemaps, native


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
