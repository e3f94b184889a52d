"""The aggregator of ``sourcemaps check`` (and of the report's releases section): records
in (:meth:`SourcemapCheck.add`), another aggregator's records added (:meth:`~SourcemapCheck.merge`),
a :class:`~.result.CheckResult` out (:meth:`~SourcemapCheck.result`).

Uploads may come after the events they serve (snapshots are read in any order), so events
are kept (only what the check needs, :class:`~.events.Event`) and resolved when the result is
asked for: the first :data:`MAX_EVENT_ROWS` one by one (the result lists them), the others
without their ids, counted per distinct stack (the same crash a thousand times is kept once).
Each bundle is held once; resolutions are remembered per distinct frame (up to
:data:`MAX_MEMO`), so 10,000 events of one build cost one lookup per distinct frame. The
result lists :data:`MAX_EXAMPLES` distinct unresolved frames; the totals count everything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sentry_mirror.core import bodies, grouping
from sentry_mirror.core.sourcemaps.bundle import BundleError, normalize_debug_id, read_bundle
from sentry_mirror.core.sourcemaps.events import Event, Frame, read_event
from sentry_mirror.core.sourcemaps.index import Index
from sentry_mirror.core.sourcemaps.resolve import RESOLVED, RESOLVES, SKIPPED, Resolution, Resolver
from sentry_mirror.core.sourcemaps.result import (
    BundleSummary,
    CheckResult,
    EventResult,
    Example,
    FrameResult,
    Native,
    Totals,
)
from sentry_mirror.errors import MirrorError

MAX_EVENT_ROWS = 1000
MAX_EXAMPLES = 50
MAX_WARNINGS = 100
MAX_MEMO = 200_000
#: Releases with their own in-app figures (the others are added under :data:`OTHER_RELEASES`).
MAX_RELEASES = 1000
OTHER_RELEASES = "(other releases)"
_EVENT_TYPES = frozenset({"event"})


class SourcemapCheck:
    """Feed it records (upload records and event records, any order), then ask for the result."""

    def __init__(self) -> None:
        self.index = Index()
        self.listed: list[Event] = []
        self.others: Counter[Event] = Counter()
        self.events = 0
        self.warnings: list[str] = []

    def add(self, record: Mapping[str, Any]) -> None:
        """One record: an ``upload`` record's bundle or debug file, or a record's events."""
        if record.get("endpoint") == "upload":
            self._upload(record)
            return
        status = (record.get("response") or {}).get("status") or 0
        if not 200 <= status < 300:
            return  # refused: Sentry would not have stored the event
        for payload, _ in grouping.events_of(record, _EVENT_TYPES):
            self.add_event(payload, record.get("id"))

    def add_event(self, payload: Mapping[str, Any], record_id: str | None) -> None:
        """One error event (already parsed) of an accepted record."""
        self.add_read(read_event(payload, record_id))

    def add_read(self, event: Event | None) -> None:
        """One error event as :func:`~.events.read_event` read it (None: nothing to check)."""
        self.events += 1
        if event is not None:
            self._keep(event, 1)

    def _keep(self, event: Event, times: int) -> None:
        if event.frames and len(self.listed) < MAX_EVENT_ROWS:
            self.listed.append(event)
        else:
            self.others[replace(event, event_id=None, record_id=None)] += times

    def merge(self, other: SourcemapCheck) -> None:
        """Add what ``other`` was fed."""
        self.index.merge(other.index)
        for event in other.listed:
            self._keep(event, 1)
        for event, times in other.others.items():
            self._keep(event, times)
        self.events += other.events
        for warning in other.warnings:
            self._warn(warning)

    def _warn(self, message: str) -> None:
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(message)

    def _upload(self, record: Mapping[str, Any]) -> None:
        upload = record.get("upload")
        if not isinstance(upload, dict):
            self._warn(f"upload record {record.get('id')}: no upload object")
            return
        if upload.get("kind") == "debug_file":
            debug_id = normalize_debug_id(upload.get("debug_id"))
            if debug_id is not None:
                self.index.add_debug_file(debug_id, str(upload.get("name") or ""))
            return
        if upload.get("kind") != "artifact_bundle":
            return
        checksum = str(upload.get("checksum") or record.get("id") or "")
        try:
            bundle = self.index.by_checksum.get(checksum) or read_bundle(bodies.whole(record), checksum)
        except (ValueError, MirrorError) as error:  # a BundleError, or a body that does not decode
            self._warn(f"upload record {record.get('id')}: artifact bundle skipped: {error}")
            return
        release, dist, received_at = upload.get("release"), upload.get("dist"), record.get("received_at")
        self.index.add_bundle(
            bundle,
            release if isinstance(release, str) and release else None,
            dist if isinstance(dist, str) else None,
            received_at if isinstance(received_at, str) else "",
        )

    def result(self) -> CheckResult:
        """Resolve every event kept against every upload read (raises the install hint as a
        MirrorError when there are frames to resolve and symbolic is missing)."""
        frames = bool(self.listed) or any(e.frames for e in self.others)
        tally = _Tally(Resolver(self.index) if frames else None)
        for event in self.listed:
            tally.event(event, self.index.debug_files, 1, listed=True)
        for event, times in self.others.items():
            tally.event(event, self.index.debug_files, times, listed=False)
        index = self.index
        read = tally.resolver.contents.read.values() if tally.resolver is not None else ()
        unreadable = [f"bundle file skipped: {error}" for error in read if isinstance(error, BundleError)]
        return CheckResult(
            events=self.events,
            js_events=tally.js_events,
            totals=Totals(tally.frames, dict(tally.outcomes), tally.in_app, dict(tally.in_app_outcomes)),
            event_rows=tuple(tally.rows),
            examples=tally.examples(),
            bundles=tuple(
                BundleSummary(
                    b.checksum, release, dist, b.debug_id, len(b.files), sum(bool(f.debug_id) for f in b.files)
                )
                for (_, release, dist), b in index.bundles.items()
            ),
            releases_uploaded=tuple(sorted(index.releases)),
            debug_files=len(index.debug_files),
            native=tally.native(),
            in_app_by_release={release: (r, n) for release, (r, n) in tally.by_release.items()},
            warnings=(*self.warnings, *unreadable[: max(0, MAX_WARNINGS - len(self.warnings))]),
        )


class _Tally:
    """The counting of :meth:`SourcemapCheck.result`."""

    def __init__(self, resolver: Resolver | None) -> None:
        self.resolver = resolver
        self.memo: dict[tuple[Any, ...], Resolution] = {}
        self.js_events = self.frames = self.in_app = 0
        self.outcomes: Counter[str] = Counter()
        self.in_app_outcomes: Counter[str] = Counter()
        self.rows: list[EventResult] = []
        self.found: dict[tuple[str, str], list[Any]] = {}  # (outcome, abs_path) -> [count, Example]
        self.by_release: dict[str | None, list[int]] = {}  # release -> [in-app resolved, in-app]
        self.images: dict[str, list[Any]] = {}  # debug id -> [code_file, needed, has a debug file]

    def event(self, event: Event, debug_files: Mapping[str, str], times: int, *, listed: bool) -> None:
        """Count ``event``, met ``times`` times (listed in the result or not)."""
        for debug_id, code_file, referenced in event.native:
            image = self.images.setdefault(debug_id, [code_file, False, debug_id in debug_files])
            image[1] = image[1] or referenced is not False
        if not event.frames or self.resolver is None:
            return
        self.js_events += times
        outcomes: Counter[str] = Counter()
        in_app: Counter[str] = Counter()
        frames = []
        for frame in event.frames:
            resolution = self._resolve(event, frame)
            outcomes[resolution.outcome] += times
            if frame.in_app:
                in_app[resolution.outcome] += times
            if listed or resolution.outcome not in (RESOLVED, SKIPPED):
                result = _frame_result(frame, resolution)
                if listed:
                    frames.append(result)
                self._example(event, result, times)
        self.frames += len(event.frames) * times
        self.in_app += sum(in_app.values())
        if in_app:
            self._release(event.release, in_app)
        self.outcomes.update(outcomes)
        self.in_app_outcomes.update(in_app)
        if listed:
            row = EventResult(event.event_id, event.record_id, event.release, event.dist, event.platform,
                              dict(outcomes), dict(in_app), tuple(frames))  # fmt: skip
            self.rows.append(row)

    def native(self) -> Native:
        """Distinct debug ids: matched by a debug file, else missing when a frame points into
        the image (or an event has no frame addresses to tell), else unreferenced."""
        matched = sum(1 for _, _, found in self.images.values() if found)
        missing = [(d, code_file) for d, (code_file, needed, found) in self.images.items() if needed and not found]
        unreferenced = len(self.images) - matched - len(missing)
        return Native(len(self.images), matched, len(missing), tuple(missing[:MAX_EXAMPLES]), unreferenced)

    def _release(self, release: str | None, in_app: Counter[str]) -> None:
        if release not in self.by_release and len(self.by_release) >= MAX_RELEASES:
            release = OTHER_RELEASES
        counts = self.by_release.setdefault(release, [0, 0])
        counts[0] += sum(in_app[name] for name in RESOLVES)
        counts[1] += sum(in_app.values()) - in_app[SKIPPED]

    def _resolve(self, event: Event, frame: Frame) -> Resolution:
        key = (event.debug_id_of(frame), event.release, event.dist, frame.abs_path, frame.lineno, frame.colno)
        found = self.memo.get(key)
        if found is None:
            assert self.resolver is not None
            found = self.resolver.resolve(event, frame)
            if len(self.memo) < MAX_MEMO:
                self.memo[key] = found
        return found

    def _example(self, event: Event, frame: FrameResult, times: int) -> None:
        if frame.outcome in (RESOLVED, SKIPPED):
            return
        key = (frame.outcome, frame.abs_path)
        entry = self.found.get(key)
        if entry is not None:
            entry[0] += times
            entry[2] = entry[2] or frame.in_app
        elif len(self.found) < MAX_EXAMPLES:
            self.found[key] = [times, (frame, event.event_id, event.release), frame.in_app]

    def examples(self) -> tuple[Example, ...]:
        made = [
            Example(outcome, path, count, in_app, frame, event_id, release)
            for (outcome, path), (count, (frame, event_id, release), in_app) in self.found.items()
        ]
        return tuple(sorted(made, key=lambda e: (not e.in_app, -e.count, e.outcome, e.abs_path)))


def _frame_result(frame: Frame, resolution: Resolution) -> FrameResult:
    return FrameResult(
        abs_path=frame.abs_path,
        lineno=frame.lineno,
        colno=frame.colno,
        function=frame.function,
        in_app=frame.in_app,
        outcome=resolution.outcome,
        via=resolution.via,
        debug_id=resolution.debug_id,
        detail=resolution.detail,
        original=resolution.original,
    )
