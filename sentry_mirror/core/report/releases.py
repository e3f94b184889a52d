"""Section 11, ``releases`` ("Releases and uploads"): releases seen in events against those
sentry-cli created through the web API, their commits and deploys, the artifact bundles and
debug files uploaded (:mod:`.uploads`), and the mismatches a team moving its CI cares about.

Read from three kinds of accepted (2xx) records:

- events (``event``, ``transaction``, ``feedback`` payloads): per release, events, JavaScript
  events (error events with JavaScript frames, read as ``sourcemaps check`` reads them: the
  events that need an upload; transactions and feedback never do), first and last received,
  environments, dists, and the source map debug ids JavaScript events carry
  (``debug_meta.images`` of type ``sourcemap``); a record whose events do not decode counts
  once under its ``summary.release``;
- web API records (endpoint ``api_*``, bodies as sentry-cli sends them): ``api_releases``
  POST creates (``version``, ``projects``, ``dateReleased``), ``api_release`` PUT updates
  (``dateReleased`` finalizes; ``refs`` and ``commits`` set the commits, replacing those set
  before, as Sentry does), ``api_deploys`` POST adds a deploy (``environment``, ``name``,
  ``url``);
- upload records (endpoint ``upload``): artifact bundles per release and dist with their
  files by type and debug ids, debug files with their names and debug ids.

A release has an upload when a bundle names it, or when one of its events' debug ids is in an
uploaded bundle. The share of in-app JavaScript frames that resolve is not computed here: an
optional :class:`Frames` aggregator (the ``sourcemaps check`` resolver) gives it; without one
it is unknown (null), and the one-line answer leaves it out.

Bounds: :data:`MAX_RELEASES` releases (the rest counted together under
:data:`~.bounded.OTHER`), :data:`~.release_row.MAX_PER_RELEASE` environments, dists, projects, refs and
deploys per release, :data:`MAX_DEBUG_FILES` debug files listed, :data:`MAX_DEBUG_IDS` bundle
debug ids kept, :data:`SHOWN` names in each JSON list (with its full count). Merging is exact
within these bounds (the first met kept, as one pass would).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, Self

from sentry_mirror.core import bodies, lenient
from sentry_mirror.core.report.bounded import OTHER, Capped, Json, bounded, by_count, merge_tables, share
from sentry_mirror.core.report.release_row import Release
from sentry_mirror.core.report.uploads import Upload, read_upload, text
from sentry_mirror.core.report.view import EVENTISH, RecordView
from sentry_mirror.core.sourcemaps.events import Event, read_event
from sentry_mirror.core.sourcemaps.result import resolved_percent
from sentry_mirror.core.webapi import routes

MAX_RELEASES = 1_000
MAX_DEBUG_FILES = 200
MAX_DEBUG_IDS = 10_000
#: Releases (and versions in each mismatch list) given in the JSON, the full count beside.
SHOWN = 100
#: The largest web API body read (a ``set-commits`` body with many commits is a few KiB).
MAX_API_BODY = 8 * 1024 * 1024
_COUNTS = ("events", "without_release", "js_without_release", "bundles", "bundle_bytes", "unreadable",
           "bundles_without_release", "debug_file_count", "debug_file_bytes", "api_requests", "api_refused")  # fmt: skip


class Frames(Protocol):
    """The share of in-app JavaScript frames that resolve (the ``sourcemaps check``
    aggregator, :mod:`sentry_mirror.core.sourcemaps`): fed every record, mergeable, and per
    release (None: events with no release) the in-app JavaScript frames ``(resolved, total)``;
    ``unchecked``: JavaScript events it did not check (:mod:`.js_frames`)."""

    unchecked: int

    def add(self, view: RecordView) -> None: ...

    def add_read(self, event: Event | None) -> None: ...

    def merge(self, other: Self) -> None: ...

    def per_release(self) -> Mapping[str | None, tuple[int, int]]: ...


class Releases:
    """The ``releases`` aggregator (see the module docstring); ``frames`` gives the share of
    in-app JavaScript frames that resolve (:func:`~.js_frames.frames_for_report`)."""

    reads = None  # every record: uploads and web API records carry no payload

    def __init__(self, frames: Frames | None = None) -> None:
        self.frames = frames
        self.releases: dict[str, Release] = {}
        self.events = self.without_release = self.js_without_release = 0
        self.bundles = self.bundle_bytes = self.unreadable = self.bundles_without_release = 0
        self.debug_file_count = self.debug_file_bytes = self.api_requests = self.api_refused = 0
        self.bundle_files = Capped(100)
        self.bundle_debug_ids = Capped(MAX_DEBUG_IDS)
        self.debug_files: list[Json] = []
        self.api = Capped(200)

    @property
    def from_ci(self) -> int:
        """Upload and web API records read (what makes the section present: without them,
        every release with JavaScript events would be one with no upload)."""
        return self.bundles + self.debug_file_count + self.api_requests

    def release(self, version: str) -> Release:
        return bounded(self.releases, version, MAX_RELEASES, Release)  # type: ignore[no-any-return]

    def add(self, view: RecordView) -> None:
        endpoint = view.endpoint
        if self.frames is not None and (endpoint == "upload" or endpoint.startswith("api_")):
            self.frames.add(view)  # events reach it from _event, read once
        if endpoint.startswith("api_"):
            self._api(view)
        elif not view.accepted:
            return
        elif endpoint == "upload":
            self._upload(view.data)
        elif view.payloads:
            for payload, kind in view.payloads:
                if kind in EVENTISH:
                    self._event(payload, kind, view.received)
        elif any(item.get("type") in EVENTISH for item in view.items):
            summary = view.data.get("summary")
            release = summary.get("release") if isinstance(summary, dict) else None
            self._event({"release": release}, "-", view.received)

    # ------------------------------------------------------------ events

    def _event(self, event: Mapping[str, Any], kind: str, received: str) -> None:
        """One event: a JavaScript one (needing an upload) when it is an error event with
        JavaScript frames, as ``sourcemaps check`` reads them."""
        self.events += 1
        read = read_event(event, None) if kind == "event" else None
        if self.frames is not None and kind == "event":
            self.frames.add_read(read)
        js = read is not None and bool(read.frames)
        version = text(event.get("release"))
        if version is None:
            self.without_release += 1
            self.js_without_release += js
            return
        debug_ids = [debug_id for _, debug_id in read.debug_ids] if read is not None and js else ()
        self.release(version).event(event, received, js, debug_ids)

    # ------------------------------------------------------------ the web API

    def _api(self, view: RecordView) -> None:
        data = view.data
        method = str(data.get("method") or "-").upper()[:10]
        self.api_requests += 1
        self.api.add(f"{method} {view.endpoint[:60]}")
        if not view.accepted:
            self.api_refused += 1
            return
        if (view.endpoint, method) not in _WRITES:
            return
        body = _json_body(data)
        if not isinstance(body, dict):
            return
        version = text(body.get("version")) if view.endpoint == "api_releases" else _version_of(data)
        if version is None:
            return
        release = self.release(version)
        if view.endpoint == "api_deploys":
            release.deploy(body)
        else:
            release.update(body, created=view.endpoint == "api_releases")

    # ------------------------------------------------------------ uploads

    def _upload(self, data: Mapping[str, Any]) -> None:
        upload = read_upload(data)
        if upload.kind == "artifact_bundle":
            self._bundle(upload)
            return
        self.debug_file_count += 1
        self.debug_file_bytes += upload.size
        if len(self.debug_files) < MAX_DEBUG_FILES:
            self.debug_files.append(_debug_file(upload))

    def _bundle(self, upload: Upload) -> None:
        self.bundles += 1
        self.bundle_bytes += upload.size
        self.unreadable += not upload.readable
        for file in upload.files:
            self.bundle_files.add(file.type)
            if file.debug_id:
                self.bundle_debug_ids.add(file.debug_id)
        if upload.release is None:
            self.bundles_without_release += 1
        else:
            self.release(upload.release).bundle(upload)

    # ------------------------------------------------------------ merge and result

    def merge(self, other: Releases) -> None:
        if self.frames is not None and other.frames is not None:
            self.frames.merge(other.frames)
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        merge_tables(self.releases, other.releases, MAX_RELEASES, Release, Release.merge)
        self.bundle_files.merge(other.bundle_files)
        self.bundle_debug_ids.merge(other.bundle_debug_ids)
        self.debug_files += other.debug_files[: MAX_DEBUG_FILES - len(self.debug_files)]
        self.api.merge(other.api)

    def result(self) -> Json:
        resolved = dict(self.frames.per_release()) if self.frames is not None else None
        rows = sorted(self.releases.items(), key=lambda kv: (kv[0] == OTHER, -kv[1].events, kv[0]))
        uploaded = set(self.bundle_debug_ids)
        named = [(version, release) for version, release in rows if version != OTHER]
        mismatches = {
            "events_no_upload": _listed(v for v, r in named if r.js_events and not r.has_upload(uploaded)),
            "uploads_no_events": _listed(v for v, r in named if r.bundles and not r.events),
            "not_finalized": _listed(v for v, r in named if r.created and r.finalized is None),
            "events_without_release": self.without_release,
            "js_events_without_release": self.js_without_release,
        }
        data: Json = {
            "events": self.events,
            "frames": self._frames_json(resolved),
            "releases": [
                {"version": v, **r.to_json(uploaded), "frames": _frames(resolved, v) if resolved is not None else None}
                for v, r in rows[:SHOWN]
            ],
            "release_count": len(named),
            "truncated": OTHER in self.releases,
            "bundles": self._bundles_json(),
            "debug_files": {
                "count": self.debug_file_count,
                "bytes": self.debug_file_bytes,
                "files": self.debug_files[:SHOWN],
            },
            "api": {"requests": self.api_requests, "refused": self.api_refused, "by_endpoint": by_count(self.api)},
            "mismatches": mismatches,
        }
        data["answer"] = answer(data)
        return data

    def _frames_json(self, resolved: Mapping[str | None, tuple[int, int]] | None) -> Json | None:
        """All in-app JavaScript frames (None: unknown), with the JavaScript events not checked."""
        if resolved is None or self.frames is None:
            return None
        return {**_frames(resolved, None), "unchecked": self.frames.unchecked}

    def _bundles_json(self) -> Json:
        return {
            "count": self.bundles,
            "bytes": self.bundle_bytes,
            "without_release": self.bundles_without_release,
            "unreadable": self.unreadable,
            "files_by_type": by_count(self.bundle_files),
            "debug_ids": len(self.bundle_debug_ids),
        }


_WRITES = frozenset({("api_releases", "POST"), ("api_release", "PUT"), ("api_deploys", "POST")})


def _json_body(data: Mapping[str, Any]) -> Any:
    """A web API record's body as JSON; None when it is not JSON or too big."""
    size = data.get("body_size")
    if type(size) is int and size > MAX_API_BODY:
        return None
    try:
        raw = bodies.whole(data)
        return lenient.loads(raw) if 0 < len(raw) <= MAX_API_BODY else None
    except (ValueError, TypeError, OSError):  # not base64, not decodable, not JSON
        return None


def _version_of(data: Mapping[str, Any]) -> str | None:
    """The release a web API record names: its ``api.release``, else its path's."""
    api = data.get("api")
    version = text(api.get("release")) if isinstance(api, dict) else None
    path = data.get("path")
    if version is None and isinstance(path, str):
        version = text(routes.route(path)[1].get("version"))
    return version


def _debug_file(upload: Upload) -> Json:
    return {"name": upload.name, "debug_id": upload.debug_id, "size": upload.size, "kind": upload.kind}


def _listed(versions: Any) -> Json:
    """``{"count": n, "versions": [the first SHOWN]}``."""
    found = list(versions)
    return {"count": len(found), "versions": found[:SHOWN]}


def _frames(resolved: Mapping[str | None, tuple[int, int]], version: str | None) -> Json:
    """``{"resolved", "total", "share"}`` of in-app JavaScript frames: of one release, or
    (``version`` None) of all, events with no release included."""
    pairs = [resolved.get(version, (0, 0))] if version is not None else list(resolved.values())
    done, total = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
    return {"resolved": done, "total": total, "share": share(done, total) if total else None}


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def answer(data: Mapping[str, Any]) -> str:
    """The section's one line: ``94% of in-app JS frames resolve; 2 releases have events but
    no upload`` (the share only when known)."""
    parts = []
    frames = data["frames"]
    if frames is not None and frames["total"]:
        parts.append(f"{resolved_percent(frames['resolved'], frames['total'])} of in-app JS frames resolve")
    mismatches = data["mismatches"]
    missing = mismatches["events_no_upload"]["count"]
    if missing:
        parts.append(_plural(missing, "release has", "releases have") + " events but no upload")
    elif any(row["js_events"] for row in data["releases"]):
        parts.append("every release with JavaScript events has an upload")
    if mismatches["uploads_no_events"]["count"]:
        parts.append(
            _plural(mismatches["uploads_no_events"]["count"], "release has", "releases have") + " uploads but no events"
        )
    if mismatches["js_events_without_release"]:
        parts.append(_plural(mismatches["js_events_without_release"], "JS event has", "JS events have") + " no release")
    if not parts and not (data["release_count"] or data["bundles"]["count"] or data["debug_files"]["count"]):
        return "no releases, uploads or release API calls in these snapshots"
    return "; ".join(parts) or f"{_plural(data['release_count'], 'release', 'releases')}, no JavaScript events"
