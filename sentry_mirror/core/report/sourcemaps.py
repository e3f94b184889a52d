"""Section 8, ``sourcemaps``: minified-looking JavaScript frames, debug ids, and the
releases and dists events carry. Releases are tallied per batch before they go to their
counter (in the order first met: the same figures). Merging is exact (up to
:data:`~.bounded.MAX_KEYS` releases and image types, the first met kept)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sentry_mirror.core import grouping
from sentry_mirror.core.report.bounded import Capped, Json, by_count, share
from sentry_mirror.core.report.view import EVENTISH, RecordView
from sentry_mirror.core.sourcemaps.events import JS_PLATFORMS
from sentry_mirror.core.tolerant import Remarks, as_list

#: Releases tallied before they go to their counter.
MAX_PENDING = 4096
_MINIFIED_FILE = re.compile(r"(\.min\.js|[.-][0-9a-f]{8,}\.m?js|/chunk[-.]|bundle[.-])", re.IGNORECASE)
_COUNTS = ("js_events", "js_frames", "minified", "with_debug_meta", "debug_ids", "events", "events_with_release",
           "events_with_dist")  # fmt: skip


class Sourcemaps:
    """The ``sourcemaps`` aggregator."""

    reads = EVENTISH

    def __init__(self, remarks: Remarks) -> None:
        self.remarks = remarks
        self.js_events = self.js_frames = self.minified = self.with_debug_meta = self.debug_ids = 0
        self.events = self.events_with_release = self.events_with_dist = 0
        self.image_types = Capped()
        self.releases = Capped()
        self.pending: dict[str, int] = {}

    def add(self, view: RecordView) -> None:
        for payload, kind in view.payloads:
            if kind in EVENTISH:
                self._release(payload)
                self._frames(payload)

    def _release(self, event: Mapping[str, Any]) -> None:
        self.events += 1
        release = event.get("release")
        if isinstance(release, str) and release:
            self.events_with_release += 1
            pending = self.pending
            pending[release] = pending.get(release, 0) + 1
            if len(pending) >= MAX_PENDING:
                self.flush()
        if event.get("dist"):
            self.events_with_dist += 1

    def _frames(self, event: Mapping[str, Any]) -> None:
        debug_meta = event.get("debug_meta")
        if isinstance(debug_meta, dict):
            self.with_debug_meta += 1
            for image in as_list(debug_meta.get("images"), self.remarks, "event", "debug_meta.images"):
                if isinstance(image, dict):
                    self.image_types.add(image.get("type"))
                    self.debug_ids += bool(image.get("debug_id"))
        platform = event.get("platform")
        if not isinstance(platform, str) or platform not in JS_PLATFORMS:
            return
        self.js_events += 1
        exceptions = grouping.exceptions_of(event)
        frames = [f for x in exceptions for f in grouping.frames_of(x)] or grouping.event_frames(event)
        for frame in frames:
            self.js_frames += 1
            self.minified += looks_minified(frame)

    def flush(self) -> None:
        """Add the releases tallied so far, in the order first met, to their counter."""
        pending, self.pending = self.pending, {}
        for release, times in pending.items():
            self.releases.add(release, times)

    def merge(self, other: Sourcemaps) -> None:
        self.flush()
        other.flush()
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.image_types.merge(other.image_types)
        self.releases.merge(other.releases)

    def result(self) -> Json:
        self.flush()
        return {
            "js_events": self.js_events,
            "js_frames": self.js_frames,
            "minified_frames": self.minified,
            "minified_share": share(self.minified, self.js_frames),
            "with_debug_meta": self.with_debug_meta,
            "debug_ids": self.debug_ids,
            "image_types": by_count(self.image_types),
            "events": self.events,
            "events_with_release": self.events_with_release,
            "events_with_dist": self.events_with_dist,
            "releases": by_count(self.releases),
        }


def looks_minified(frame: Mapping[str, Any]) -> bool:
    """A JavaScript frame that has not been through a source map: a minified or bundled file,
    or a position deep into a very long first line."""
    name = frame.get("abs_path") or frame.get("filename") or ""
    if isinstance(name, str) and _MINIFIED_FILE.search(name):
        return True
    lineno, colno = frame.get("lineno"), frame.get("colno")
    if isinstance(lineno, int) and isinstance(colno, int) and lineno <= 2 and colno > 300:
        return True
    context = frame.get("context_line")
    return isinstance(context, str) and len(context) > 500
