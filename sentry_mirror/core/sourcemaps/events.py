"""What the check reads from an event: its JavaScript frames (exceptions' stack traces, else
the event's own or its single thread's), the ``sourcemap`` images of ``debug_meta`` (which
file has which debug id) and the native images (debug ids to find among debug files)."""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sentry_mirror.core import grouping
from sentry_mirror.core.grouping.event_parts import threads_of
from sentry_mirror.core.sourcemaps.bundle import normalize_debug_id
from sentry_mirror.core.text import nonempty

#: Event platforms whose frames are JavaScript (a frame may say its own platform too).
#: The platforms whose frames source maps resolve (one home: the report reads it too).
JS_PLATFORMS = frozenset({"javascript", "node"})
#: Frames read per event (Relay keeps fewer: a bound against hostile input only).
MAX_FRAMES = 500
#: Native images and frame addresses read per event (bounds against hostile input).
MAX_IMAGES = 1000
MAX_ADDRESSES = 5000


@dataclass(frozen=True)
class Frame:
    """A JavaScript frame as sent: where (``abs_path``, else ``filename``; ``filename`` kept
    too when it differs), its position (integers only), and whether it is in-app (as the SDK
    marked it, else :func:`in_app_default`)."""

    abs_path: str
    lineno: int | None
    colno: int | None
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
    #: (debug id, code_file or "", whether a frame's instruction_addr falls in the image:
    #: None when no frame of the event has an address) of the other images
    native: tuple[tuple[str, str, bool | None], ...]

    def debug_id_of(self, frame: Frame) -> str | None:
        """The debug id the event's ``sourcemap`` images give the frame's file (their
        ``code_file`` is the frame's ``abs_path``, or its ``filename``)."""
        for code_file, debug_id in self.debug_ids:
            if code_file == frame.abs_path or code_file == frame.filename:
                return debug_id
        return None


def read_event(payload: Mapping[str, Any], record_id: str | None) -> Event | None:
    """The check's view of ``payload``; None when it has neither JavaScript frames nor images."""
    platform = nonempty(payload.get("platform")) or ""
    sourcemaps, images = _images(payload.get("debug_meta"))
    native = _referenced(payload, images) if images else []
    frames = tuple(_frames(payload, platform)) if platform in JS_PLATFORMS or sourcemaps else ()
    if not frames and not native:
        return None
    return Event(
        event_id=nonempty(payload.get("event_id")),
        record_id=record_id,
        release=nonempty(payload.get("release")),
        dist=nonempty(payload.get("dist")),
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
        path = nonempty(frame.get("abs_path")) or nonempty(frame.get("filename")) or ""
        filename = nonempty(frame.get("filename"))
        frames.append(
            Frame(
                abs_path=path[:2048],
                lineno=_int(frame.get("lineno")),
                colno=_int(frame.get("colno")),
                function=(nonempty(frame.get("function")) or "")[:200] or None,
                in_app=in_app if isinstance(in_app := frame.get("in_app"), bool) else in_app_default(path),
                filename=filename[:2048] if filename and filename != path else None,
            )
        )
    return frames


def in_app_default(path: str) -> bool:
    """Whether a frame the SDK did not mark is in-app: @sentry/node's rule
    (``filenameIsInApp``): not when its file is in ``node_modules/`` or is node's own
    (``node:...``, ``internal/...``: no absolute path nor URL); the browser SDKs mark every
    frame in-app."""
    if "node_modules/" in path.replace("\\", "/"):
        return False
    return path.startswith(("/", ".")) or re.match(r"^([A-Za-z]:|[A-Za-z][A-Za-z0-9.+-]*://)", path) is not None


_Image = tuple[str, str, int | None, int | None]  # debug id, code_file, image_addr, image_size


def _images(debug_meta: Any) -> tuple[list[tuple[str, str]], list[_Image]]:
    images = debug_meta.get("images") if isinstance(debug_meta, dict) else None
    sourcemaps: list[tuple[str, str]] = []
    native: list[_Image] = []
    for image in images[:MAX_IMAGES] if isinstance(images, list) else ():
        if not isinstance(image, dict):
            continue
        debug_id = normalize_debug_id(image.get("debug_id") or image.get("uuid"))
        if debug_id is None:
            continue
        code_file = (nonempty(image.get("code_file")) or "")[:2048]
        if image.get("type") == "sourcemap":
            if code_file:
                sourcemaps.append((code_file, debug_id))
        else:
            native.append((debug_id, code_file, _address(image.get("image_addr")), _address(image.get("image_size"))))
    return sourcemaps, native


def _referenced(event: Mapping[str, Any], images: list[_Image]) -> list[tuple[str, str, bool | None]]:
    """Each image, and whether a frame's ``instruction_addr`` falls in it (None: no frame of
    the event has an address, so it is not known)."""
    stacks = [*grouping.exceptions_of(event), *threads_of(event), event]
    frames = (frame for stack in stacks for frame in grouping.frames_of(stack))
    addresses = sorted(
        a
        for frame in itertools.islice(frames, MAX_ADDRESSES)
        if (a := _address(frame.get("instruction_addr"))) is not None
    )
    if not addresses:
        return [(debug_id, code_file, None) for debug_id, code_file, _, _ in images]
    return [(debug_id, code_file, _inside(addresses, start, size)) for debug_id, code_file, start, size in images]


def _inside(addresses: list[int], start: int | None, size: int | None) -> bool:
    """Whether one of the sorted ``addresses`` is in ``start .. start + size``."""
    if start is None or not size:
        return False
    at = bisect.bisect_left(addresses, start)
    return at < len(addresses) and addresses[at] < start + size


def _address(value: object) -> int | None:
    """An address as events give them: ``"0x7fff..."`` or an integer."""
    if isinstance(value, str) and value[:2].lower() == "0x" and 2 < len(value) <= 18:
        try:
            return int(value, 16)
        except ValueError:
            return None
    return value if type(value) is int and value >= 0 else None


def _int(value: object) -> int | None:
    """A line or column: an integer (not a bool), else None."""
    return value if type(value) is int else None
