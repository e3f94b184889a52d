"""What changed between two reports: ``sentry-mirror diff A B``.

:func:`diff_reports` compares two :class:`~sentry_mirror.core.report.Report` (built with the
``traffic``, ``fields``, ``issues`` and ``pii`` sections at least) and returns a :class:`Diff`:

- item-type, endpoint and SDK-version counts that differ;
- issue groups (by grouping hash) that appear, disappear or change their event count;
- field paths, per item type over all SDKs, that appear, disappear or whose coverage moves
  by more than ``coverage_threshold`` (a fraction: 0.1 is ten percentage points);
- personal-data kinds per (item type, path) that appear or disappear;
- item sizes (p50, p95, max per item type) that change by more than ``size_threshold``
  (a fraction of the smaller of the two).

:meth:`Diff.failures` checks the ``--fail-on`` conditions (:data:`CONDITIONS`). Two reports
of the same records give an empty diff (:attr:`Diff.empty`).

JSON (:meth:`Diff.to_json`, version :data:`SCHEMA_VERSION`)::

    {"schema": "sentry-mirror-diff", "version": 1, "empty": bool,
     "counts": [{"what": "item_type"|"endpoint"|"sdk", "key", "a", "b"}],
     "groups": {"new": [g], "gone": [g], "changed": [g]},   g = {"short_id", "title", "a", "b"}
     "fields": {"new": [f], "lost": [f], "changed": [f]},   f = {"item_type", "path", "a", "b"} (shares)
     "pii": {"new": [p], "gone": [p]},                      p = {"item_type", "path", "kind", "a", "b"} (counts)
     "sizes": [{"item_type", "measure": "p50"|"p95"|"max", "a", "b"}]}
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sentry_mirror.core.report import Report

SCHEMA = "sentry-mirror-diff"
SCHEMA_VERSION = 1
COVERAGE_THRESHOLD = 0.1
SIZE_THRESHOLD = 0.2

#: ``--fail-on`` conditions and what makes them true.
CONDITIONS = {
    "new-fields": "a field path appears",
    "lost-fields": "a field path disappears",
    "coverage": "a field's coverage moves by more than the threshold",
    "new-pii": "a kind of personal data appears at a path",
    "new-groups": "an issue group appears",
    "lost-groups": "an issue group disappears",
    "new-item-types": "an item type appears",
    "lost-item-types": "an item type disappears",
    "size-growth": "an item size grows by more than the threshold",
    "any": "any difference at all",
}

Json = dict[str, Any]


@dataclass(frozen=True)
class Diff:
    counts: list[Json] = field(default_factory=list)
    groups: dict[str, list[Json]] = field(default_factory=lambda: {"new": [], "gone": [], "changed": []})
    fields: dict[str, list[Json]] = field(default_factory=lambda: {"new": [], "lost": [], "changed": []})
    pii: dict[str, list[Json]] = field(default_factory=lambda: {"new": [], "gone": []})
    sizes: list[Json] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (
            self.counts
            or any(self.groups.values())
            or any(self.fields.values())
            or any(self.pii.values())
            or self.sizes
        )

    def failures(self, conditions: Iterable[str]) -> list[str]:
        """The conditions (of :data:`CONDITIONS`) that hold, each as ``"name: how many"``."""
        found = {
            "new-fields": len(self.fields["new"]),
            "lost-fields": len(self.fields["lost"]),
            "coverage": len(self.fields["changed"]),
            "new-pii": len(self.pii["new"]),
            "new-groups": len(self.groups["new"]),
            "lost-groups": len(self.groups["gone"]),
            "new-item-types": sum(1 for c in self.counts if c["what"] == "item_type" and not c["a"]),
            "lost-item-types": sum(1 for c in self.counts if c["what"] == "item_type" and not c["b"]),
            "size-growth": sum(1 for s in self.sizes if (s["b"] or 0) > (s["a"] or 0)),
            "any": 0 if self.empty else 1,
        }
        unknown = set(conditions) - set(CONDITIONS)
        if unknown:
            raise ValueError(f"unknown --fail-on condition(s): {', '.join(sorted(unknown))}")
        return [f"{name}: {found[name]}" for name in dict.fromkeys(conditions) if found[name]]

    def to_json(self) -> Json:
        return {
            "schema": SCHEMA,
            "version": SCHEMA_VERSION,
            "empty": self.empty,
            "counts": self.counts,
            "groups": self.groups,
            "fields": self.fields,
            "pii": self.pii,
            "sizes": self.sizes,
        }


def _counts(what: str, a: Mapping[str, int], b: Mapping[str, int]) -> list[Json]:
    return [
        {"what": what, "key": key, "a": a.get(key, 0), "b": b.get(key, 0)}
        for key in sorted(set(a) | set(b))
        if a.get(key, 0) != b.get(key, 0)
    ]


def _coverage(report: Report) -> dict[tuple[str, str], float]:
    """Share of items of each type carrying each path, over all SDKs."""
    items: dict[str, int] = defaultdict(int)
    carried: dict[tuple[str, str], int] = defaultdict(int)
    for entry in report.section("fields").get("types", ()):
        items[entry["item_type"]] += entry["items"]
        for path in entry["paths"]:
            carried[(entry["item_type"], path["path"])] += path["items"]
    return {key: round(n / items[key[0]], 4) if items[key[0]] else 0.0 for key, n in carried.items()}


def _pii(report: Report) -> dict[tuple[str, str, str], int]:
    return {(r["item_type"], r["path"], r["kind"]): r["count"] for r in report.section("pii").get("fields", ())}


def _changed(a: float | None, b: float | None, threshold: float) -> bool:
    if a == b:
        return False
    if not a or not b:
        return True
    return abs(b - a) / min(a, b) > threshold


def diff_reports(
    a: Report, b: Report, *, coverage_threshold: float = COVERAGE_THRESHOLD, size_threshold: float = SIZE_THRESHOLD
) -> Diff:
    """What changed from ``a`` to ``b``."""
    ta, tb = a.section("traffic"), b.section("traffic")
    counts = []
    for what, section_key in (("item_type", "items_by_type"), ("endpoint", "by_endpoint"), ("sdk", "by_sdk")):
        counts += _counts(what, ta.get(section_key, {}), tb.get(section_key, {}))

    ga = {g.hash: g for g in a.groups}
    gb = {g.hash: g for g in b.groups}
    groups: dict[str, list[Json]] = {
        "new": [{"short_id": g.short_id, "title": g.title, "a": 0, "b": g.count} for h, g in gb.items() if h not in ga],
        "gone": [
            {"short_id": g.short_id, "title": g.title, "a": g.count, "b": 0} for h, g in ga.items() if h not in gb
        ],
        "changed": [
            {"short_id": g.short_id, "title": g.title, "a": ga[h].count, "b": g.count}
            for h, g in gb.items()
            if h in ga and ga[h].count != g.count
        ],
    }

    ca, cb = _coverage(a), _coverage(b)
    fields: dict[str, list[Json]] = {"new": [], "lost": [], "changed": []}
    for key in sorted(set(ca) | set(cb)):
        row = {"item_type": key[0], "path": key[1], "a": ca.get(key), "b": cb.get(key)}
        if key not in ca:
            fields["new"].append(row)
        elif key not in cb:
            fields["lost"].append(row)
        elif abs(ca[key] - cb[key]) > coverage_threshold:
            fields["changed"].append(row)

    pa, pb = _pii(a), _pii(b)
    pii = {
        "new": [{"item_type": k[0], "path": k[1], "kind": k[2], "a": 0, "b": pb[k]} for k in sorted(pb) if k not in pa],
        "gone": [
            {"item_type": k[0], "path": k[1], "kind": k[2], "a": pa[k], "b": 0} for k in sorted(pa) if k not in pb
        ],
    }

    sizes = []
    sa, sb = ta.get("sizes", {}), tb.get("sizes", {})
    for kind in sorted(set(sa) & set(sb)):
        for measure in ("p50", "p95", "max"):
            va, vb = sa[kind][measure], sb[kind][measure]
            if _changed(va, vb, size_threshold):
                sizes.append({"item_type": kind, "measure": measure, "a": va, "b": vb})
    return Diff(counts, groups, fields, pii, sizes)
