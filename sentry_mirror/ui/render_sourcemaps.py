"""``sourcemaps check`` for people: its JSON as report sections (totals per outcome, events,
unresolved frames with what would fix them, bundles, native images), drawn on a terminal
by :func:`~sentry_mirror.ui.render_report_terminal.terminal` and as one HTML page by
:func:`~sentry_mirror.ui.render_report_html.html_page` (both show captured text literally)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console

from sentry_mirror.core.sourcemaps import OUTCOMES, RESOLVES, SKIPPED
from sentry_mirror.core.sourcemaps.result import resolved_percent
from sentry_mirror.ui import render_report_html, render_report_terminal
from sentry_mirror.ui.render_report import Section, Table

#: Events listed on the terminal (the HTML lists all the JSON lists).
TERMINAL_EVENTS = 30
TITLE = "sentry-mirror sourcemaps check"


def terminal(console: Console, data: Mapping[str, Any], title: str = TITLE) -> None:
    render_report_terminal.terminal(console, sections(data, max_events=TERMINAL_EVENTS), title)


def html(data: Mapping[str, Any], title: str = TITLE) -> str:
    return render_report_html.html_page(sections(data), title)


def answer(data: Mapping[str, Any]) -> str:
    """The one-line answer: how many in-app JavaScript frames resolve."""
    totals = data["totals"]
    if not totals["frames"]:
        return "no JavaScript frames in the events read"
    checked = totals["in_app_resolved"] + totals["in_app_unresolved"]
    in_app = (
        f"{resolved_percent(totals['in_app_resolved'], checked)} of in-app JS frames resolve"
        if checked
        else "no in-app JS frames (every frame is marked in_app: false, in node_modules/ or node's own)"
    )
    return (
        f"{in_app} ({totals['in_app_resolved']} of {checked}); {totals['resolved']} of {totals['frames']} frames in all"
    )


def sections(data: Mapping[str, Any], *, max_events: int | None = None) -> list[Section]:
    return [_totals(data), _events(data, max_events), _examples(data), _uploads(data)]


def _totals(data: Mapping[str, Any]) -> Section:
    totals = data["totals"]
    facts = [
        ("answer", answer(data)),
        ("events", f"{data['events']} ({data['js_events']} with JavaScript frames)"),
        ("bundles", str(len(data["bundles"]))),
        ("releases uploaded", ", ".join(data["releases_uploaded"]) or "-"),
    ]
    rows = [
        (name, totals["outcomes"][name], totals["in_app_outcomes"][name], OUTCOMES[name][0])
        for name in OUTCOMES
        if totals["outcomes"][name]
    ]
    table = Table(
        "frames per outcome", ("outcome", "frames", "in-app", "meaning"), rows, frozenset({1, 2}), frozenset({3})
    )
    return Section("totals", "Totals", facts, [table], notes=list(data["warnings"]))


def _events(data: Mapping[str, Any], limit: int | None) -> Section:
    listed = data["event_rows"]
    rows = []
    for row in listed[:limit]:
        frames = sum(row["outcomes"].values())
        unresolved = {k: n for k, n in row["in_app_outcomes"].items() if k not in RESOLVES and k != SKIPPED}
        worst = max(unresolved, key=lambda k: unresolved[k]) if unresolved else "-"
        resolved = sum(row["outcomes"].get(name, 0) for name in RESOLVES)
        rows.append((row["event_id"] or "-", row["release"] or "-", frames, resolved, sum(unresolved.values()), worst))
    columns = ("event", "release", "frames", "resolved", "in-app unresolved", "main reason")
    notes = []
    if limit is not None and len(listed) > limit:
        notes.append(f"{len(listed) - limit} more events: --json or --html lists them")
    if len(listed) < data["js_events"]:
        notes.append(f"{len(listed)} of {data['js_events']} events listed; the totals count all")
    return Section(
        "events", "Events", [], [Table("events", columns, rows, frozenset({2, 3, 4}), frozenset({0, 1}))], notes=notes
    )


def _examples(data: Mapping[str, Any]) -> Section:
    rows = [
        (
            e["outcome"],
            e["abs_path"],
            _position(e["frame"]),
            f"{e['count']} in-app" if e["in_app"] else str(e["count"]),
            "; ".join(part for part in (e["frame"]["detail"], e["fix"]) if part) or "-",
        )
        for e in data["examples"]
    ]
    # five columns: the outcome's name (up to 22 characters) stays whole at 80 columns
    columns = ("outcome", "file", "line:col", "frames", "detail; what would fix it")
    table = Table("distinct unresolved frames", columns, rows, frozenset({3}), frozenset({1, 4}))
    return Section("unresolved", "Unresolved frames", [], [table])


def _uploads(data: Mapping[str, Any]) -> Section:
    bundles = [
        (b["checksum"][:12], b["release"] or "-", b["dist"] or "-", b["debug_id"] or "-", b["files"], b["debug_ids"])
        for b in data["bundles"]
    ]
    columns = ("bundle", "release", "dist", "debug id", "files", "with debug id")
    native = data["native"]
    facts = [("debug files uploaded", str(data["debug_files"]))]
    if native["images"]:
        facts.append(
            ("native images", f"{native['matched']} of {native['images']} debug ids match an uploaded debug file")
        )
        facts.append(
            ("missing", f"{native['missing']} (images frames point into, or of events without frame addresses)")
        )
        if native["unreferenced"]:
            facts.append(
                ("no debug file, unused", f"{native['unreferenced']} (no frame points into them: not missing)")
            )
    missing = Table("native images without a debug file", ("debug id", "code file"), native["missing_examples"])
    return Section(
        "uploads", "Uploads", facts, [Table("artifact bundles", columns, bundles, frozenset({4, 5})), missing]
    )


def _position(frame: Mapping[str, Any]) -> str:
    line, column = frame["lineno"], frame["colno"]
    return f"{'-' if line is None else line}:{'-' if column is None else column}"
