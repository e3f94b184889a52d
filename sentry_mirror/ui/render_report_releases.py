"""The report's ``releases`` section ("Releases and uploads": what sentry-cli created and
uploaded, against the releases events carry) in the document model of
:mod:`sentry_mirror.ui.render_report` (put in the report's document by
:mod:`sentry_mirror.ui.report_document`). The section's first fact is its one-line answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sentry_mirror.ui.render_report import Cell, Section, Table, percent, size

TITLE = "11. Releases and uploads"
#: Names listed in a table cell before "and N more".
_NAMES = 5


def names(values: Sequence[str], count: int | None = None) -> str:
    """``a, b, c and 4 more`` (``count``: how many there are, when more than listed)."""
    total = len(values) if count is None else count
    shown = ", ".join(values[:_NAMES]) or "-"
    return shown + (f" and {total - min(len(values), _NAMES)} more" if total > min(len(values), _NAMES) else "")


def _counts(counter: Mapping[str, int]) -> str:
    return ", ".join(f"{key} {n}" for key, n in counter.items()) or "-"


def _second(moment: str | None) -> str | None:
    """A received time to the second (``2026-11-23T10:00:00``)."""
    return moment[:19] if moment else moment


def _frames(frames: Mapping[str, Any] | None) -> str:
    if frames is None:
        return "unknown"
    if not frames["total"]:
        return "-"
    return f"{frames['resolved']} of {frames['total']} ({percent(frames['share'])})"


def releases(data: Mapping[str, Any]) -> Section:
    """The section: the answer and totals, then tables per release, commits, deploys,
    bundles, debug files, web API calls and mismatches."""
    s = Section("releases", TITLE)
    rows, bundles, files, api = data["releases"], data["bundles"], data["debug_files"], data["api"]
    created = sum(1 for r in rows if r["created"])
    s.facts = [
        ("answer", data["answer"]),
        ("releases", f"{data['release_count']} ({created} created through the web API)"),
        ("events", f"{data['events']} ({data['mismatches']['events_without_release']} with no release)"),
        ("in-app JS frames resolved", _frames(data["frames"])),
        (
            "artifact bundles",
            f"{bundles['count']} ({size(bundles['bytes'])}; {bundles['without_release']} with no release, "
            f"{bundles['unreadable']} unreadable)",
        ),
        ("bundle files", _counts(bundles["files_by_type"])),
        ("debug ids in bundles", str(bundles["debug_ids"])),
        ("debug files", f"{files['count']} ({size(files['bytes'])})"),
        ("web API requests", f"{api['requests']} ({api['refused']} refused)"),
    ]
    s.tables = [
        *_release_tables(rows, bool(data["frames"] and data["frames"]["total"])),
        *_upload_tables(rows, files),
        _api(api),
        _mismatches(data["mismatches"]),
    ]
    s.notes = _notes(data)
    return s


def _release_tables(rows: Sequence[Mapping[str, Any]], frames: bool) -> list[Table]:
    """Per release: figures (frames resolved when known), events, commits, deploys."""
    refs: list[tuple[Cell, ...]] = []
    for r in rows:
        refs += [(r["version"], ref["repository"], ref["commit"], ref["previous"]) for ref in r["refs"]]
        if r["commits"]:
            refs.append((r["version"], names(r["repositories"]), f"{r['commits']} commit(s)", None))
    return [
        Table(
            "Releases",
            (
                "release",
                "events",
                "JS events",
                "bundles",
                *(("JS frames resolved",) if frames else ()),
                "created",
                "finalized",
            ),
            [_release_row(r, frames) for r in rows],
            frozenset({1, 2, 3}),
            frozenset({0}),
        ),
        Table(
            "Seen in events",
            ("release", "first seen", "last seen", "environments", "dists"),
            [
                (
                    r["version"],
                    _second(r["first_seen"]),
                    _second(r["last_seen"]),
                    names(list(r["environments"])),
                    names(list(r["dists"])),
                )
                for r in rows
                if r["events"]
            ],
            frozenset(),
            frozenset({0, 3, 4}),
        ),
        Table(
            "Commits (set-commits)", ("release", "repository", "commit", "previous"), refs, frozenset(), frozenset({0})
        ),
        Table(
            "Deploys",
            ("release", "environment", "name", "url"),
            [(r["version"], d["environment"], d["name"], d["url"]) for r in rows for d in r["deploys"]],
            frozenset(),
            frozenset({0, 3}),
        ),
    ]


def _release_row(r: Mapping[str, Any], frames: bool) -> tuple[Cell, ...]:
    """A release's row; finalized: ``dateReleased`` to the minute."""
    resolved = (_frames(r["frames"]),) if frames else ()
    finalized = r["finalized"][:16] if r["finalized"] else "no"
    created = "yes" if r["created"] else "no"
    return (r["version"], r["events"], r["js_events"], r["bundles"], *resolved, created, finalized)


def _upload_tables(rows: Sequence[Mapping[str, Any]], files: Mapping[str, Any]) -> list[Table]:
    return [
        Table(
            "Artifact bundles by release",
            ("release", "bundles", "dists", "files", "debug ids"),
            [
                (
                    r["version"],
                    r["bundles"],
                    _counts(r["bundle_dists"]),
                    _counts(r["bundle_files"]),
                    r["bundle_debug_ids"],
                )
                for r in rows
                if r["bundles"]
            ],
            frozenset({1, 4}),
            frozenset({0, 3}),
        ),
        Table(
            "Debug files",
            ("name", "debug id", "kind", "size"),
            [(f["name"], f["debug_id"], f["kind"], size(f["size"])) for f in files["files"]],
            frozenset({3}),
            frozenset({0, 1}),
        ),
    ]


def _api(api: Mapping[str, Any]) -> Table:
    rows = [(request, n) for request, n in api["by_endpoint"].items()]
    return Table("Web API requests", ("request", "count"), rows, frozenset({1}), frozenset({0}))


def _mismatches(mismatches: Mapping[str, Any]) -> Table:
    def listed(name: str) -> tuple[Cell, ...]:
        found = mismatches[name]
        return found["count"], names(found["versions"], found["count"])

    rows: list[tuple[Cell, ...]] = [
        ("JavaScript events but no upload", *listed("events_no_upload")),
        ("uploads but no events", *listed("uploads_no_events")),
        ("created, never finalized", *listed("not_finalized")),
        ("events with no release", mismatches["events_without_release"], "-"),
        ("JavaScript events with no release", mismatches["js_events_without_release"], "-"),
    ]
    return Table("Mismatches", ("mismatch", "count", "releases"), rows, frozenset({1}), frozenset({2}))


def _notes(data: Mapping[str, Any]) -> list[str]:
    notes = [
        "an upload: an artifact bundle naming the release, or holding a debug id its events carry; "
        "only JavaScript events (error events with JavaScript frames) need one"
    ]
    frames = data["frames"]
    if frames is None:
        notes.append("the share of in-app JS frames that resolve is not known here: `sentry-mirror sourcemaps check`")
    elif frames.get("unchecked"):
        notes.append(
            f"{frames['unchecked']} JavaScript events read before any upload or web API record were not checked "
            "(`sentry-mirror sourcemaps check` checks them all)"
        )
    shown = len([r for r in data["releases"] if r["version"] != "(other)"])
    if data["release_count"] > shown:
        notes.append(f"{shown} releases listed, and {data['release_count'] - shown} more")
    if data["truncated"]:
        notes.append("releases past the limit are counted together under (other)")
    return notes
