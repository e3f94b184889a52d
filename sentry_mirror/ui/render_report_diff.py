"""The diff of two reports (:func:`sentry_mirror.core.diffing.diff_reports`) as the document
model of :mod:`sentry_mirror.ui.render_report`: one section per kind of difference."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sentry_mirror.ui.render_report import Cell, Section, Table, percent, size

NO_DIFFERENCES = "no differences"


def _v(value: Any) -> Cell:
    return "-" if value is None else value


def diff_document(diff: Mapping[str, Any]) -> list[Section]:
    """The sections of a diff's JSON; empty when there is no difference."""
    if diff["empty"]:
        return []
    makers = (_counts, _groups, _fields, _pii, _sizes)
    return [section for section in (make(diff) for make in makers) if section is not None]


def _counts(diff: Mapping[str, Any]) -> Section | None:
    if not diff["counts"]:
        return None
    rows: list[tuple[Cell, ...]] = [(c["what"], c["key"], c["a"], c["b"]) for c in diff["counts"]]
    table = Table(
        "Items, endpoints and SDK versions", ("what", "key", "A", "B"), list(rows), frozenset({2, 3}), frozenset({1})
    )
    return Section("counts", "Counts", tables=[table])


def _groups(diff: Mapping[str, Any]) -> Section | None:
    g = diff["groups"]
    if not any(g.values()):
        return None
    s = Section(
        "groups",
        "Issue groups",
        facts=[("new / gone / changed count", f"{len(g['new'])} / {len(g['gone'])} / {len(g['changed'])}")],
    )
    for name in ("new", "gone", "changed"):
        s.tables.append(
            Table(
                f"{name.capitalize()} groups",
                ("group", "title", "A", "B"),
                [(r["short_id"], r["title"], r["a"], r["b"]) for r in g[name]],
                frozenset({2, 3}),
                frozenset({1}),
            )
        )
    return s


def _fields(diff: Mapping[str, Any]) -> Section | None:
    f = diff["fields"]
    if not any(f.values()):
        return None
    s = Section(
        "fields",
        "Field paths",
        facts=[("new / lost / coverage changed", f"{len(f['new'])} / {len(f['lost'])} / {len(f['changed'])}")],
    )
    for name in ("new", "lost", "changed"):
        rows = [
            (
                r["item_type"],
                r["path"],
                _v(r["a"] if r["a"] is None else percent(r["a"])),
                _v(r["b"] if r["b"] is None else percent(r["b"])),
            )
            for r in f[name]
        ]
        s.tables.append(
            Table(
                f"{name.capitalize()} fields", ("item type", "path", "A", "B"), rows, frozenset({2, 3}), frozenset({1})
            )
        )
    return s


def _pii(diff: Mapping[str, Any]) -> Section | None:
    p = diff["pii"]
    if not any(p.values()):
        return None
    s = Section("pii", "Personal data")
    for name in ("new", "gone"):
        s.tables.append(
            Table(
                f"{name.capitalize()} personal data",
                ("kind", "item type", "path", "A", "B"),
                [(r["kind"], r["item_type"], r["path"], r["a"], r["b"]) for r in p[name]],
                frozenset({3, 4}),
                frozenset({2}),
            )
        )
    return s


def _sizes(diff: Mapping[str, Any]) -> Section | None:
    if not diff["sizes"]:
        return None
    rows: list[tuple[Cell, ...]] = [(r["item_type"], r["measure"], size(r["a"]), size(r["b"])) for r in diff["sizes"]]
    table = Table(
        "Sizes that changed", ("item type", "measure", "A", "B"), list(rows), frozenset({2, 3}), frozenset({1})
    )
    return Section("sizes", "Item sizes", tables=[table])
