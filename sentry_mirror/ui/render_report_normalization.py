"""The report's ``normalization`` section (what Relay's normaliser and default scrubbing would
change in each event before storing it) in the document model of
:mod:`sentry_mirror.ui.render_report`, for the terminal, Markdown and HTML reports
(:func:`normalization`, put in place by :mod:`sentry_mirror.ui.report_document`). Paths,
reasons and SDK names are captured text: the renderers show them literally."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sentry_mirror.ui.render import NO_SDK
from sentry_mirror.ui.render_report import Cell, Section, Table, percent, size

TITLE = "13. What Sentry would change (Relay's normaliser)"
_HOW = (
    "Each event, transaction and feedback payload run through sentry-relay's StoreNormalizer (trimming on, "
    "judged at the record's receive time) and its default data scrubbing, as Sentry's ingestion would before "
    "storing it. Changed: something sent is not stored as sent (trimmed, invalid, replaced, scrubbed, removed, "
    "rewritten); defaulted and renamed fields lose nothing. Counts are occurrences (defaulted and removed: "
    "events). Sizes are compact JSON, the stored event with its _meta."
)
_NOT_MODELLED = (
    "Not modelled: clock drift correction from the envelope's sent_at, inbound filters, a project's own "
    "scrubbing rules, and the items Relay normalises elsewhere (replays, spans, logs, sessions, check-ins, "
    "profiles, security reports)."
)


def label(row: Mapping[str, Any]) -> str:
    """``sentry.python event`` (``(no SDK) event`` when the records named none)."""
    sdk = NO_SDK if row["sdk"] == "-" else row["sdk"]
    return f"{sdk} {row['item_type'] or ''}".strip()


def _cut(entry: Mapping[str, Any]) -> str:
    unit = entry["unit"]
    if unit == "depth":
        return "nested too deep: stored as a string"
    return f"{entry['cut']} {unit} ({size(entry['bytes'])})" if entry["bytes"] else f"{entry['cut']} {unit}"


def _overview(rows: Sequence[Mapping[str, Any]]) -> list[Table]:
    counts: list[Sequence[Cell]] = [
        (label(row), row["events"], row["changed"], sum(row["rejected"].values()), sum(row["failures"].values()))
        for row in rows
    ]
    sizes: list[Sequence[Cell]] = [
        (label(row), *(size(row[side][key]) for key in ("p50", "max") for side in ("size_before", "size_after")))
        for row in rows
    ]
    return [
        Table("Per SDK and item type", ("SDK and item type", "events", "changed", "rejected", "failures"), counts,
              frozenset({1, 2, 3, 4}), frozenset({0})),
        Table("Event sizes, as sent and as stored", ("SDK and item type", "sent p50", "stored p50", "sent max",
              "stored max"), sizes, frozenset({1, 2, 3, 4}), frozenset({0})),
    ]  # fmt: skip


def _tables(named: Sequence[tuple[str, Mapping[str, Any]]]) -> list[Table]:
    def rows(key: str, *columns: str) -> list[Sequence[Cell]]:
        return [(name, *(entry[c] for c in columns), entry["count"]) for name, row in named for entry in row[key]]

    trimmed: list[Sequence[Cell]] = [
        (name, entry["path"], _cut(entry), entry["count"]) for name, row in named for entry in row["trimmed"]
    ]

    def reasons(key: str) -> list[Sequence[Cell]]:
        return [(name, reason, n) for name, row in named for reason, n in row[key].items()]

    invalid = [(name, path, f"{error}: {reason}" if reason else error, action, n)
               for name, path, error, reason, action, n in rows("invalid", "path", "error", "reason", "action")]  # fmt: skip
    return [
        Table("Trimmed", ("SDK and item type", "path", "cut", "count"), trimmed, frozenset({3}), frozenset({0, 1})),
        Table(
            "Invalid values",
            ("SDK and item type", "path", "error", "kept", "count"),
            invalid,
            frozenset({4}),
            frozenset({0, 1}),
            wrapped=frozenset({2}),
        ),
        Table(
            "Would be rejected (Relay refuses to store them)",
            ("SDK and item type", "reason", "count"),
            reasons("rejected"),
            frozenset({2}),
            frozenset({0, 1}),
        ),
        Table(
            "Failures (Relay could not be asked)",
            ("SDK and item type", "error", "count"),
            reasons("failures"),
            frozenset({2}),
            frozenset({0, 1}),
        ),
        Table(
            "Scrubbed (default data scrubbing)",
            ("SDK and item type", "path", "rule", "count"),
            rows("scrubbed", "path", "rule"),
            frozenset({3}),
            frozenset({0, 1}),
        ),
        Table(
            "Renamed",
            ("SDK and item type", "from", "to", "count"),
            rows("renamed", "from", "to"),
            frozenset({3}),
            frozenset({0, 1, 2}),
        ),
        *(
            Table(title, ("SDK and item type", "path", "count"), rows(key, "path"), frozenset({2}), frozenset({0, 1}))
            for key, title in _PATH_TABLES
        ),
    ]


_PATH_TABLES = (
    ("replaced", "Replaced by a normalised value"),
    ("removed", "Removed"),
    ("rewritten", "Rewritten"),
    ("defaulted", "Defaulted (added by Relay)"),
)


def normalization(data: Mapping[str, Any]) -> Section:
    """The section: totals, one row per SDK and item type, then what changed where."""
    s = Section("normalization", TITLE)
    events = data["events"]
    s.facts = [
        ("events read", str(events)),
        ("would be stored", str(data["stored"])),
        ("changed", f"{data['changed']} ({percent(data['changed'] / events if events else None)})"),
        ("would be rejected", str(data["rejected"])),
        ("Relay failures", str(data["failures"])),
    ]
    rows = data["rows"]
    named = [(label(row), row) for row in rows]
    s.tables = [*_overview(rows), *_tables(named)]
    s.notes = [f"{name}: more than the first paths met in {', '.join(row['truncated'])}, not listed"
               for name, row in named if row["truncated"]]  # fmt: skip
    s.notes += [_HOW, _NOT_MODELLED]
    return s
