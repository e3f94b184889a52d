"""What ``sourcemaps check`` found (frozen), and its JSON (documented in docs/sourcemaps.md;
``SCHEMA`` moves when a field changes meaning or goes away)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sentry_mirror.core.sourcemaps.resolve import OUTCOMES, RESOLVES, SKIPPED, Original

SCHEMA = 1


@dataclass(frozen=True)
class FrameResult:
    """One frame of a listed event and its outcome."""

    abs_path: str
    lineno: int | None
    colno: int | None
    function: str | None
    in_app: bool
    outcome: str
    via: str | None
    debug_id: str | None
    detail: str | None
    original: Original | None


@dataclass(frozen=True)
class EventResult:
    """One event: frames per outcome (all and in-app), and its frames (outermost first)."""

    event_id: str | None
    record_id: str | None
    release: str | None
    dist: str | None
    platform: str
    outcomes: Mapping[str, int]
    in_app_outcomes: Mapping[str, int]
    frames: tuple[FrameResult, ...]


@dataclass(frozen=True)
class Example:
    """A distinct unresolved frame (outcome and file), how often, and one occurrence."""

    outcome: str
    abs_path: str
    count: int
    in_app: bool
    frame: FrameResult
    event_id: str | None
    release: str | None


@dataclass(frozen=True)
class Totals:
    frames: int
    outcomes: Mapping[str, int]
    in_app_frames: int
    in_app_outcomes: Mapping[str, int]

    @property
    def resolved(self) -> int:
        """Frames with an original file and line."""
        return sum(self.outcomes.get(name, 0) for name in RESOLVES)

    @property
    def in_app_resolved(self) -> int:
        return sum(self.in_app_outcomes.get(name, 0) for name in RESOLVES)

    @property
    def in_app_checked(self) -> int:
        """In-app frames with a file to look up (not ``skipped``)."""
        return self.in_app_frames - self.in_app_outcomes.get(SKIPPED, 0)

    @property
    def in_app_unresolved(self) -> int:
        return self.in_app_checked - self.in_app_resolved


@dataclass(frozen=True)
class BundleSummary:
    checksum: str
    release: str | None
    dist: str | None
    debug_id: str | None
    files: int
    debug_ids: int


@dataclass(frozen=True)
class Native:
    """Native images of events (distinct debug ids) matched against uploaded debug files:
    ``missing`` counts only images a frame points into (or of events whose frames have no
    addresses), ``unreferenced`` the others without a debug file."""

    images: int
    matched: int
    missing: int
    missing_examples: tuple[tuple[str, str], ...]  # (debug id, code file)
    unreferenced: int = 0


@dataclass(frozen=True)
class CheckResult:
    """Everything the check found; :meth:`to_json` is the ``--json`` output."""

    events: int
    js_events: int
    totals: Totals
    event_rows: tuple[EventResult, ...]
    examples: tuple[Example, ...]
    bundles: tuple[BundleSummary, ...]
    releases_uploaded: tuple[str, ...]
    debug_files: int
    native: Native
    warnings: tuple[str, ...]
    #: per release (None: events without one) the in-app frames that resolve, and all of them
    in_app_by_release: Mapping[str | None, tuple[int, int]]

    @property
    def in_app_resolved_share(self) -> float | None:
        """Share of in-app JavaScript frames that resolve (to a line at least) among those with
        a file to look up; None without any."""
        frames = self.totals.in_app_checked
        return self.totals.in_app_resolved / frames if frames else None

    def to_json(self) -> dict[str, Any]:
        totals = self.totals
        return {
            "schema": SCHEMA,
            "events": self.events,
            "js_events": self.js_events,
            "totals": {
                "frames": totals.frames,
                "resolved": totals.resolved,
                "outcomes": _all_outcomes(totals.outcomes),
                "in_app_frames": totals.in_app_frames,
                "in_app_resolved": totals.in_app_resolved,
                "in_app_outcomes": _all_outcomes(totals.in_app_outcomes),
                "in_app_unresolved": totals.in_app_unresolved,
                "in_app_resolved_share": self.in_app_resolved_share,
            },
            "event_rows": [_event_json(row) for row in self.event_rows],
            "examples": [
                {**asdict(example), "frame": _frame_json(example.frame), "fix": OUTCOMES[example.outcome][1]}
                for example in self.examples
            ],
            "bundles": [asdict(bundle) for bundle in self.bundles],
            "releases_uploaded": list(self.releases_uploaded),
            "debug_files": self.debug_files,
            "native": {**asdict(self.native), "missing_examples": [list(m) for m in self.native.missing_examples]},
            "warnings": list(self.warnings),
            "releases": [
                {"release": release, "in_app_frames": total, "in_app_resolved": resolved}
                for release, (resolved, total) in self.in_app_by_release.items()
            ],
        }


def _all_outcomes(counts: Mapping[str, int]) -> dict[str, int]:
    """Every outcome, zeros included, in the documented order: the keys never vary."""
    return {name: counts.get(name, 0) for name in OUTCOMES}


def _frame_json(frame: FrameResult) -> dict[str, Any]:
    # by hand: dataclasses.asdict deep-copies, and took a third of a 10,000-event check
    original = frame.original
    return {
        "abs_path": frame.abs_path,
        "lineno": frame.lineno,
        "colno": frame.colno,
        "function": frame.function,
        "in_app": frame.in_app,
        "outcome": frame.outcome,
        "via": frame.via,
        "debug_id": frame.debug_id,
        "detail": frame.detail,
        "original": None
        if original is None
        else {
            "file": original.file,
            "line": original.line,
            "column": original.column,
            "function": original.function,
            "context_line": original.context_line,
            "pre_context": list(original.pre_context),
            "post_context": list(original.post_context),
        },
    }


def _event_json(row: EventResult) -> dict[str, Any]:
    return {
        "event_id": row.event_id,
        "record_id": row.record_id,
        "release": row.release,
        "dist": row.dist,
        "platform": row.platform,
        "outcomes": dict(row.outcomes),
        "in_app_outcomes": dict(row.in_app_outcomes),
        "frames": [_frame_json(frame) for frame in row.frames],
    }


def resolved_percent(resolved: int, total: int) -> str:
    """``94%``: the share that resolves, rounded down (never 100% while one frame fails);
    the check's answer and the report's releases section say it alike."""
    return f"{resolved * 100 // total}%" if total else "-"
