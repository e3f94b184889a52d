"""Section 13, ``normalization``: what Sentry's ingestion (Relay) would change in each event
before storing it, per SDK and item type (optional: needs the ``sentry-relay`` package).

Each payload of an ``event``, ``transaction`` or ``feedback`` item of an accepted record is
run through Relay's store normaliser and its default scrubbing
(:func:`sentry_mirror.core.relay_normalize.normalize`), judged at the record's receive
time, and compared with what was sent (:mod:`.normalization_changes`): fields trimmed and by
how much, values dropped or replaced as invalid (with the ``_meta`` error and its reason),
values replaced, scrubbed, renamed, defaulted, removed and rewritten, events Relay would
reject (and why), and the size of each event as sent and as stored (compact JSON, ``_meta``
included). Relay also normalises replay events, spans, logs, sessions, check-ins, profiles
and security reports, through code its Python package does not expose: those items are not
read here.

``changed`` counts the events of which something sent is not stored as sent (trimmed,
invalid, replaced, scrubbed, removed or rewritten); defaulted and renamed fields lose nothing.
A ``failure`` is a payload Relay could not be asked about (it raised something other than a
rejection): counted with the error's first line, never raised.

Bounds: :data:`MAX_ROWS` SDK and item type rows (later ones under ``(other)``),
:data:`MAX_PATHS` keys per table of a row and :data:`MAX_REASONS` rejection and failure
reasons (the first met; ``truncated`` names the tables that hit it). Merging is exact while
no bound is hit (sizes: see :class:`~.bounded.Reservoir`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sentry_mirror.core import pii, relay_normalize
from sentry_mirror.core.report.bounded import OTHER, Capped, Json, Reservoir, bounded, by_count, merge_tables
from sentry_mirror.core.report.normalization_changes import Changes, changes_of, size
from sentry_mirror.core.report.view import RecordView
from sentry_mirror.errors import MirrorError

MAX_ROWS = 50
MAX_PATHS = 200
MAX_REASONS = 100
#: Each table of a row: its key columns, then its summed columns (``count`` first).
TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "trimmed": (("path", "unit"), ("count", "cut", "bytes")),
    "invalid": (("path", "error", "reason", "action"), ("count",)),
    "replaced": (("path",), ("count",)),
    "scrubbed": (("path", "rule"), ("count",)),
    "renamed": (("from", "to"), ("count",)),
    "defaulted": (("path",), ("count",)),
    "removed": (("path",), ("count",)),
    "rewritten": (("path",), ("count",)),
}
#: The kinds of change that lose something sent (an event with one is ``changed``).
LOSSY = frozenset({"trimmed", "invalid", "replaced", "scrubbed", "removed", "rewritten"})
_SEP = "\x00"


class Tally:
    """Sums per key (the first :data:`MAX_PATHS` keys met; ``truncated`` says more came)."""

    __slots__ = ("sums", "truncated")

    def __init__(self) -> None:
        self.sums: dict[tuple[str, ...], list[int]] = {}
        self.truncated = False

    def add(self, key: tuple[str, ...], values: tuple[int, ...]) -> None:
        sums = self.sums.get(key)
        if sums is None:
            if len(self.sums) >= MAX_PATHS:
                self.truncated = True
                return
            sums = self.sums[key] = [0] * len(values)
        for index, value in enumerate(values):
            sums[index] += value

    def merge(self, other: Tally) -> None:
        for key, values in other.sums.items():
            self.add(key, tuple(values))
        self.truncated = self.truncated or other.truncated


class Row:
    """One SDK and item type: its events, what Relay did to them, their sizes."""

    def __init__(self) -> None:
        self.events = 0
        self.stored = 0
        self.changed = 0
        self.rejected = Capped(MAX_REASONS)
        self.failures = Capped(MAX_REASONS)
        self.kinds: Counter[str] = Counter()
        self.before = Reservoir()
        self.after = Reservoir()
        self.tables = {name: Tally() for name in TABLES}

    def add(self, payload: dict[str, Any], item_type: str, received: str | None) -> None:
        self.events += 1
        self.before.add(size(payload))
        outcome = relay_normalize.normalize(payload, item_type, received or None)
        if outcome.event is None:
            (self.rejected if outcome.rejected else self.failures).add(outcome.rejected or outcome.failed)
            return
        try:
            changes = changes_of(payload, outcome.event)
        except Exception as exc:  # a payload the comparison cannot walk: counted, never raised
            self.failures.add(f"comparison: {type(exc).__name__}")
            return
        self.stored += 1
        self.after.add(size(outcome.event))
        self._count(changes)

    def _count(self, changes: Changes) -> None:
        kinds = set(changes.kinds())
        self.kinds.update(kinds)
        self.changed += bool(kinds & LOSSY)
        for path, unit, cut, cut_bytes in changes.trimmed:
            self.tables["trimmed"].add((path, unit), (1, cut, cut_bytes))
        for entry in changes.invalid:
            self.tables["invalid"].add(entry, (1,))
        for path, rule in changes.scrubbed:
            self.tables["scrubbed"].add((path, rule), (1,))
        for source, target in changes.renamed:
            self.tables["renamed"].add((source, target), (1,))
        for name in ("replaced", "defaulted", "removed", "rewritten"):
            for path in getattr(changes, name):
                self.tables[name].add((path,), (1,))

    def merge(self, other: Row) -> None:
        self.events += other.events
        self.stored += other.stored
        self.changed += other.changed
        self.rejected.merge(other.rejected)
        self.failures.merge(other.failures)
        self.kinds.update(other.kinds)
        self.before.merge(other.before)
        self.after.merge(other.after)
        for name, tally in self.tables.items():
            tally.merge(other.tables[name])

    def to_json(self, key: str) -> Json:
        """The row of ``key`` (:func:`row_key`, or :data:`~.bounded.OTHER`)."""
        item_type, _, sdk = key.partition(_SEP)
        row: Json = {
            "sdk": OTHER if key == OTHER else sdk,
            "item_type": None if key == OTHER else item_type,
            "events": self.events,
            "stored": self.stored,
            "changed": self.changed,
            "rejected": by_count(self.rejected),
            "failures": by_count(self.failures),
            "events_with": {kind: self.kinds[kind] for kind in TABLES if self.kinds[kind]},
            "size_before": self.before.to_json(),
            "size_after": self.after.to_json(),
        }
        for name, (keys, sums) in TABLES.items():
            row[name] = _table(self.tables[name], keys, sums)
        truncated = [name for name, tally in self.tables.items() if tally.truncated]
        truncated += [name for name in ("rejected", "failures") if getattr(self, name).truncated]
        row["truncated"] = truncated
        return row


def _table(tally: Tally, keys: tuple[str, ...], sums: tuple[str, ...]) -> list[Json]:
    rows: list[Json] = [
        {**dict(zip(keys, key, strict=True)), **dict(zip(sums, values, strict=True))}
        for key, values in tally.sums.items()
    ]
    rows.sort(key=lambda row: (-row["count"], *(str(row[k]) for k in keys)))
    return rows


def row_key(sdk: str, item_type: str) -> str:
    """A row's key: the item type (one of :data:`~sentry_mirror.core.relay_normalize.EVENT_TYPES`,
    never holding NUL), NUL, the SDK's name (captured text: any character)."""
    return item_type + _SEP + sdk


class Normalization:
    """The ``normalization`` aggregator: the event-like payloads of accepted records."""

    reads = frozenset(relay_normalize.EVENT_TYPES)

    def __init__(self) -> None:
        if not pii.relay_available():
            raise MirrorError(
                "the normalization section needs Relay's normaliser: pip install sentry-relay (wheels for Linux and macOS)"
            )
        self.rows: dict[str, Row] = {}

    @property
    def events(self) -> int:
        """Payloads read (the section is shown only when there is one)."""
        return sum(row.events for row in self.rows.values())

    def add(self, view: RecordView) -> None:
        for payload, item_type in view.payloads:
            if item_type in relay_normalize.EVENT_TYPES:
                row = bounded(self.rows, row_key(view.sdk_name, item_type), MAX_ROWS, Row)
                row.add(payload, item_type, view.received)

    def merge(self, other: Normalization) -> None:
        merge_tables(self.rows, other.rows, MAX_ROWS, Row, Row.merge)

    def result(self) -> Json:
        rows = [row.to_json(key) for key, row in self.rows.items()]
        rows.sort(key=lambda row: (row["sdk"] == OTHER, -row["events"], row["sdk"], row["item_type"] or ""))
        return {
            "events": sum(row["events"] for row in rows),
            "stored": sum(row["stored"] for row in rows),
            "changed": sum(row["changed"] for row in rows),
            "rejected": sum(sum(row["rejected"].values()) for row in rows),
            "failures": sum(sum(row["failures"].values()) for row in rows),
            "rows": rows,
        }
