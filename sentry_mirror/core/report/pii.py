"""Section 7, ``pii``: personal data per item type, path and kind, with examples (masked),
and what Sentry's default scrubbing removes.

With the built-in rules (:data:`sentry_mirror.core.pii.ENGINE`), the payloads are scanned by
the walk the ``fields`` section makes (:mod:`.walker`), which calls :meth:`Pii.walked` after
each; with ``engine="relay"``, the payloads are scanned here by :func:`pii.relay_scan`
(Sentry's own scrubber says what it removes from events, transactions and feedback, and the
section lists where the two disagree and what Relay changes beyond the findings: ``relay_only``).
Findings are counted per distinct (item type, path, what the value holds) before they go to
the rows, in the order first met: the same figures.

At most :data:`MAX_PII_ROWS` rows (the first met; ``truncated`` says more were found) with
:data:`MAX_EXAMPLES` examples each. Merging gives the rows reading ``other``'s records after
this one's would give, but for the examples: this row's, then ``other``'s not among them
(one pass may show a later example of ``other``'s when some of its first repeat this row's).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sentry_mirror.core import pii
from sentry_mirror.core.report.bounded import Capped, Json
from sentry_mirror.core.report.view import JSON_ITEM_TYPES, RecordView
from sentry_mirror.core.report.walker import PiiRow, Walker

MAX_PII_ROWS = 1_000
MAX_EXAMPLES = 3
#: Findings counted before they go to the rows.
MAX_PENDING = 4096


class Pii:
    """The ``pii`` aggregator. ``scan``: look for personal data at all (the builder does
    when the section is asked for); :attr:`one_walk`: in the ``fields`` section's walk."""

    reads = JSON_ITEM_TYPES

    def __init__(self, walker: Walker, *, engine: str = pii.ENGINE, scan: bool = True) -> None:
        if engine not in (pii.ENGINE, pii.RELAY_ENGINE):
            raise ValueError(f"unknown personal-data engine {engine!r}")
        self.walker = walker
        self.engine = engine
        self.scan = scan
        self.one_walk = scan and engine == pii.ENGINE
        self.scanner = pii.Scanner()
        self.rows: dict[tuple[str, str, str], PiiRow] = walker.rows
        walker.before_rows = self.flush  # rows are made in the order met, before reuses add to them
        #: personal data per (item type, path, what one value holds), before it goes to the rows
        self.pending: dict[tuple[str, str, pii.Found], int] = {}
        self.payloads = 0
        self.truncated = False
        self.disagreements = Capped(MAX_PII_ROWS)
        self.relay_only = Capped(MAX_PII_ROWS)
        self.relay_failures = 0

    def add(self, view: RecordView) -> None:
        if self.scan and not self.one_walk:
            for payload, kind in view.payloads:
                self._scan(payload, kind)

    def walked(self, kind: str) -> None:
        """The walk of one payload of ``kind`` is done: count what it found."""
        self.payloads += 1
        found = self.walker.found
        if found:
            pending = self.pending
            for path, held in reversed(found):  # in the order pii.scan gives them
                key = (kind, path, held)
                pending[key] = pending.get(key, 0) + 1
            if len(pending) >= MAX_PENDING:
                self.flush()

    def _scan(self, payload: Any, kind: str) -> None:
        self.payloads += 1
        judged = pii.relay_scan(payload, kind, self.scanner)
        self.relay_failures += judged.failed
        for path, builtin, relay in judged.disagreements:
            self.disagreements.add("\x00".join((kind, path, builtin, relay)))
        for finding in judged.findings:
            self._row(kind, finding.path, finding.kind, finding.example, finding.scrubbed_by)
        for path, rule in judged.relay_only:
            self.relay_only.add(f"{kind}\x00{path}\x00{rule}")

    def flush(self) -> None:
        """Add the personal data found so far (per path and value, in the order met) to the rows."""
        pending, self.pending = self.pending, {}
        for (item_type, path, found), times in pending.items():
            for name, example, rule in found:
                self._row(item_type, path, name, example, rule, times)

    def _row(self, item_type: str, path: str, kind: str, example: str, rule: str | None, times: int = 1) -> None:
        key = (item_type, path, kind)
        row = self.rows.get(key)
        if row is None:
            if len(self.rows) >= MAX_PII_ROWS:
                self.truncated = True
                return
            row = self.rows[key] = PiiRow()
        row.count += times
        row.scrubbed[rule or ""] += times
        if len(row.examples) < MAX_EXAMPLES and example not in row.examples:
            row.examples.append(example)

    def merge(self, other: Pii) -> None:
        for side in (self, other):
            side.flush()
            side.walker.flush()
        for key, theirs in other.rows.items():
            row = self.rows.get(key)
            if row is None:
                if len(self.rows) >= MAX_PII_ROWS:
                    self.truncated = True
                    continue
                row = self.rows[key] = PiiRow()
            row.count += theirs.count
            row.scrubbed.update(theirs.scrubbed)
            for example in theirs.examples:
                if len(row.examples) < MAX_EXAMPLES and example not in row.examples:
                    row.examples.append(example)
        self.payloads += other.payloads
        self.truncated = self.truncated or other.truncated
        self.disagreements.merge(other.disagreements)
        self.relay_only.merge(other.relay_only)
        self.relay_failures += other.relay_failures

    def result(self) -> Json:
        self.flush()
        self.walker.flush()
        return {
            "engine": self.engine,
            "payloads": self.payloads,
            "disagreements": self._disagreements(),
            "relay_only": self._relay_only(),
            "relay_failures": self.relay_failures,
            "scanned": self.scan,
            **self._fields(),
            "truncated": self.truncated,
        }

    def _fields(self) -> Json:
        rows = []
        kinds: Counter[str] = Counter()
        kept: Counter[str] = Counter()
        for (item_type, path, kind), row in self.rows.items():
            kinds[kind] += row.count
            kept_count = row.scrubbed[""]
            kept[kind] += kept_count
            rules = sorted(rule for rule in row.scrubbed if rule)
            rows.append(
                {
                    "item_type": item_type,
                    "path": path,
                    "kind": kind,
                    "count": row.count,
                    "examples": row.examples,
                    "scrubbed_by": rules,
                    "kept": kept_count,
                }
            )
        rows.sort(key=lambda r: (pii.KINDS.index(r["kind"]), r["item_type"], r["path"]))
        return {
            "kinds": {kind: kinds[kind] for kind in pii.KINDS if kinds[kind]},
            "kept_by_sentry": {kind: kept[kind] for kind in pii.KINDS if kept[kind]},
            "fields": rows,
        }

    def _disagreements(self) -> list[Json]:
        disagreements = []
        for key, count in sorted(self.disagreements.items()):
            item_type, path, builtin, relay = key.split("\x00")
            disagreements.append(
                {"item_type": item_type, "path": path, "builtin": builtin, "relay": relay, "count": count}
            )
        return disagreements

    def _relay_only(self) -> list[Json]:
        relay_only = []
        for key, count in sorted(self.relay_only.items()):
            item_type, path, rule = key.split("\x00")
            relay_only.append({"item_type": item_type, "path": path, "rule": rule, "count": count})
        return relay_only
