"""The walk over each payload, shared by field coverage and personal data, and the subtrees
it remembers.

One walk over each payload feeds both the field coverage (per path: items carrying it, value
types, distinct values, an example; :mod:`.coverage`) and the personal-data detector
(:class:`sentry_mirror.core.pii.Site`: per path, what a value holds; section :mod:`.pii`).
Both remember the places they have met in a tree (coverage :class:`~.coverage.Node`,
``pii.Site``), so a path's decisions are made once, not per payload. SDK payloads repeat whole
subtrees (modules, sdk, runtime contexts, an exception raised again): the subtree under a
place met at most once per payload (object keys only, no arrays, no folded keys) is
remembered by its JSON (:class:`Entry`) with what it added, and the next identical one only
counts one more use; the counts are added when the report is built (:meth:`Walker.flush`).
The figures are the same as walking every payload in full.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from sentry_mirror.core import pii
from sentry_mirror.core.report.coverage import DROPPED, JSON_TYPES, MAX_DISTINCT, UNSET, Entry, Node, PathStats, example

#: Subtrees remembered, in bytes of their JSON in all; one bigger than MEMO_MAX is not.
MEMO_BYTES = 8 << 20
MEMO_MAX = 32 << 10
#: A place stops remembering its subtrees once this many were looked up with fewer than one
#: in MEMO_MIN_HITS found again (they carry ids or times).
MEMO_TRIAL = 32
MEMO_MIN_HITS = 8
_MISSING: Any = object()


@dataclass
class PiiRow:
    """Personal data of one kind at one path of one item type: how often, examples, and the
    rules (``""``: none, kept) that scrub it."""

    count: int = 0
    examples: list[str] = field(default_factory=list)
    scrubbed: Counter[str] = field(default_factory=Counter)


class Walker:
    """The walk over each payload (see the module docstring), and the subtrees
    remembered. After :meth:`walk`, ``found`` holds ``(path, pii.Found)`` per scalar with
    personal data, in document order; ``rows`` are the personal-data rows the remembered
    subtrees add to when flushed."""

    def __init__(self, rows: dict[tuple[str, str, str], PiiRow] | None = None) -> None:
        self.rows = rows if rows is not None else {}
        self.walk_id = 0
        self.epoch = 0  # moves when a path becomes shared: remembered subtrees are checked again
        self.taint = 0  # moves when what is being walked cannot be remembered
        self.kind = ""
        self.counted: list[tuple[PathStats, str]] = []  # first visits, in order
        self.found: list[tuple[str, pii.Found]] = []
        self.reused: list[tuple[Any, ...]] = []  # the personal data of subtrees met again
        self.hit: list[Entry] = []  # remembered subtrees met in this walk
        self.dropped_paths: set[str] = set()
        self.memo_bytes = 0
        self.memo_nodes: list[Node] = []
        self.remember = True
        self.recording = 0  # subtrees being walked to be remembered
        self.before_rows: Any = lambda: None

    def walk(self, payload: Any, root: Node, site: pii.Site | None, *, remember: bool = True) -> None:
        self.walk_id += 1
        self.counted.clear()
        self.found.clear()
        self.reused.clear()
        self.hit.clear()
        if self.dropped_paths:
            self.dropped_paths.clear()
        self.remember = remember
        self.kind = site.item_type if site is not None else ""
        self._children(payload, root, site)

    # -------------------------------------------------------- per value

    def _count(self, node: Node, value: Any) -> None:
        """The first visit of ``node``'s path in this walk counts ``value``."""
        stats = node.stats
        if stats is None:
            return
        if stats is UNSET:
            stats = node.stats = node.coverage._stats(node.path, node)
        if stats.stamp == self.walk_id:
            if stats.shared:
                self.taint += 1
            return
        stats.stamp = self.walk_id
        if stats is DROPPED:
            self.taint += 1
            if node.path not in self.dropped_paths:
                self.dropped_paths.add(node.path)
                node.coverage.dropped += 1
            stats.stamp = 0
            return
        stats.items += 1
        kind = JSON_TYPES.get(type(value), "object")
        types = stats.types
        types[kind] = types.get(kind, 0) + 1
        if kind != "object" and kind != "array":
            if len(stats.distinct) <= MAX_DISTINCT:
                stats.distinct.add(hash((kind, value)))
            if stats.example is None:
                stats.example = example(value)
        if self.recording:
            self.counted.append((stats, kind))

    def _value(self, value: Any, node: Node | None, site: pii.Site | None) -> None:
        if node is not None:
            self._count(node, value)
        kind = type(value)
        if kind is dict or kind is list:
            if node is not None and not node.descend:
                node = None
            if site is not None and not site.descend:
                site = None
            if node is not None or site is not None:
                self._children(value, node, site)
            return
        if kind is float and not math.isfinite(value):
            self.taint += 1  # the JSON of such a subtree says null: never remembered
        if site is not None:
            found = site.findings(value)
            if found:
                self.found.append((site.path, found))

    def _remembered(self, value: Any, node: Node, site: pii.Site | None) -> None:
        """A dict or list at a place that remembers its subtrees (``node.memo``): walked and
        remembered, the place's own count included, or one more use of what it added."""
        memo: dict[bytes, Entry] = node.memo  # type: ignore[assignment]  # (only places that remember come here)
        if site is not None and not site.descend:
            site = None
        try:
            blob = orjson.dumps(value)
        except TypeError:  # not JSON as orjson writes it (huge integers, lone surrogates)
            self._count(node, value)
            self._children(value, node, site)
            return
        node.tries += 1
        entry = memo.get(blob)
        if entry is not None and entry.epoch != self.epoch:
            if any(stats.shared for stats, _ in entry.cov):
                self._drop(node, blob)
                entry = None
            else:
                entry.epoch = self.epoch
        if entry is not None and (entry.plain or entry.matches(value)):
            node.hits += 1
            entry.hits += 1
            self.hit.append(entry)
            if self.recording:  # for the subtree being remembered around this one
                self.counted.extend(entry.cov)
                self.reused.append(entry.pii)
            return
        counted, found, reused, taint = len(self.counted), len(self.found), len(self.reused), self.taint
        self.recording += 1
        try:
            self._count(node, value)
            self._children(value, node, site)
        finally:
            self.recording -= 1
        if entry is not None or self.taint != taint or len(blob) > MEMO_MAX:
            return
        cov = tuple(self.counted[counted:])
        if any(stats.shared for stats, _ in cov):
            return
        kind = self.kind
        rows = [((kind, path, name), rule) for path, held in self.found[found:] for name, _, rule in held]
        for more in self.reused[reused:]:
            rows.extend(more)
        entry = Entry(cov, tuple(rows), value, blob, self.epoch, 0)
        entry.size = size = len(blob) * (1 if entry.original is None else 8) + 48 * (len(cov) + len(rows)) + 200
        if self.memo_bytes + size > MEMO_BYTES:
            self.flush(forget=True)
        if node.tries >= MEMO_TRIAL and node.hits * MEMO_MIN_HITS < node.tries:
            self.forget(node)  # its subtrees do not repeat
            return
        if not memo:
            self.memo_nodes.append(node)
        memo[blob] = entry
        self.memo_bytes += size

    def _children(self, value: Any, node: Node | None, site: pii.Site | None) -> None:
        if type(value) is dict:
            if node is not None and node.folded:
                self._folded(value, node, site)
            else:
                self._object(value, node, site)
            return
        element = node.items_node() if node is not None else None
        if site is not None and site.pairs(value):
            self._pairs(value, element, site)
        else:
            self._array(value, element, site)

    def _folded(self, value: dict[str, Any], node: Node, site: pii.Site | None) -> None:
        """A map keyed by names (packages, variables): one path for all, typed by its first entry."""
        star: Node | None = node.star_node()
        for key, inner in value.items():
            self._value(inner, star, site.child(key) if site is not None else None)
            star = None
            if site is None:
                break

    def _pairs(self, value: list[Any], element: Node | None, site: pii.Site) -> None:
        """``[name, value]`` pairs (headers, cookies): a map for personal data, arrays for coverage."""
        inner_node = element.items_node() if element is not None and element.descend else None
        for pair in value:
            name, inner = pair
            if element is not None:
                self._count(element, pair)
            if inner_node is not None:
                self._count(inner_node, name)
            self._value(inner, inner_node, site.child(name))

    def _descend(self, value: Any, node: Node | None, site: pii.Site | None) -> None:
        """Walk a dict or list below ``node`` and ``site``, those that go deeper."""
        if node is not None and not node.descend:
            node = None
        if site is not None and not site.descend:
            site = None
        if node is not None or site is not None:
            self._children(value, node, site)

    def _object(self, value: dict[str, Any], node: Node | None, site: pii.Site | None) -> None:
        # _count and _value, inlined for the common cases (most values are scalars under object keys)
        walk_id = self.walk_id
        counted = self.counted if self.recording else None  # (only a subtree being remembered needs them)
        found = self.found
        remember = self.remember
        nodes = node.children if node is not None else None
        sites = site.children if site is not None else None
        for key, inner in value.items():
            cn = cs = None
            if nodes is not None:
                cn = nodes.get(key)
                if cn is None:
                    cn = node.child(key)  # type: ignore[union-attr]
            if sites is not None:
                cs = sites.get(key, _MISSING)
                if cs is _MISSING:
                    cs = site.child(key)  # type: ignore[union-attr]
            t = type(inner)
            if (t is dict or t is list) and cn is not None and cn.memo is not None and remember:
                self._remembered(inner, cn, cs)
                continue
            if cn is not None:
                stats = cn.stats
                if stats is not None:
                    if stats.stamp != walk_id and stats.owner is not None:  # _count, inlined
                        stats.stamp = walk_id
                        stats.items += 1
                        if t is str and inner == stats.last:  # the same text as last time: all known but the count
                            name = "string"
                            stats.types[name] += 1
                        else:
                            name = _first_value(stats, inner, t)
                        if counted is not None:
                            counted.append((stats, name))
                    else:
                        self._count(cn, inner)
            if t is dict or t is list:
                self._descend(inner, cn, cs)
                continue
            if t is float and not math.isfinite(inner):
                self.taint += 1  # the JSON of such a subtree says null: never remembered
            if cs is not None and inner is not None:
                cache = cs.cache if t is str else None
                held = cache.get(inner) if cache is not None else None
                if held is None:
                    held = cs.findings(inner)
                else:
                    cs.hits += 1
                if held:
                    found.append((cs.path, held))

    def _array(self, value: list[Any], element: Node | None, site: pii.Site | None) -> None:
        # as _object, for the elements of an array (one place, one site for all)
        walk_id = self.walk_id
        counted = self.counted if self.recording else None
        found = self.found
        cn, cs = element, site.element() if site is not None else None
        for inner in value:
            t = type(inner)
            if cn is not None:
                stats = cn.stats
                if stats is not None:
                    if stats.stamp != walk_id and stats.owner is not None:  # _count, inlined
                        stats.stamp = walk_id
                        stats.items += 1
                        if t is str and inner == stats.last:
                            name = "string"
                            stats.types[name] += 1
                        else:
                            name = _first_value(stats, inner, t)
                        if counted is not None:
                            counted.append((stats, name))
                    else:
                        self._count(cn, inner)
            if t is dict or t is list:
                self._descend(inner, cn, cs)
                continue
            if t is float and not math.isfinite(inner):
                self.taint += 1  # the JSON of such a subtree says null: never remembered
            if cs is not None and inner is not None:
                cache = cs.cache if t is str else None
                held = cache.get(inner) if cache is not None else None
                if held is None:
                    held = cs.findings(inner)
                else:
                    cs.hits += 1
                if held:
                    found.append((cs.path, held))

    # -------------------------------------------------------- remembered subtrees

    def shared_path(self) -> None:
        """A path became shared: subtrees met again in this walk count their paths now, so
        that the other place does not count them a second time."""
        self.epoch += 1
        self.taint += 1
        for entry in self.hit:
            entry.hits -= 1
            for stats, kind in entry.cov:
                if stats.stamp != self.walk_id:
                    stats.stamp = self.walk_id
                    stats.items += 1
                    stats.types[kind] = stats.types.get(kind, 0) + 1
            self._add_rows(entry.pii, 1)
        self.hit.clear()

    def _add_rows(self, found: tuple[Any, ...], times: int) -> None:
        self.before_rows()
        rows = self.rows
        for key, rule in found:
            row = rows.get(key)
            if row is not None:  # else the rows were full when it was first seen
                row.count += times
                row.scrubbed[rule or ""] += times

    def _apply(self, entry: Entry) -> None:
        """Add an entry's uses to the figures."""
        times = entry.hits
        if times:
            for stats, kind in entry.cov:
                stats.items += times
                stats.types[kind] += times
            self._add_rows(entry.pii, times)
            entry.hits = 0

    def _retire(self, entry: Entry) -> None:
        """Add an entry's uses to the figures before forgetting it; if this walk met it, its
        paths count as visited in this walk."""
        self._apply(entry)
        self.memo_bytes -= entry.size
        if any(entry is met for met in self.hit):
            self.hit = [met for met in self.hit if met is not entry]
            for stats, _ in entry.cov:
                stats.stamp = self.walk_id

    def _drop(self, node: Node, blob: bytes) -> None:
        self._retire(node.memo.pop(blob))  # type: ignore[union-attr]

    def forget(self, node: Node) -> None:
        if node.memo:
            for entry in node.memo.values():
                self._retire(entry)
        node.memo = None

    def flush(self, *, forget: bool = False) -> None:
        """Add the uses of remembered subtrees to the figures (and forget them all)."""
        for node in self.memo_nodes:
            if node.memo:
                for entry in list(node.memo.values()):
                    self._retire(entry) if forget else self._apply(entry)
                if forget:
                    node.memo.clear()
        if forget:
            self.memo_bytes = 0
            self.memo_nodes = [node for node in self.memo_nodes if node.memo is not None]


def _first_value(stats: PathStats, value: Any, t: type) -> str:
    """Count ``value`` (of type ``t``) at the first visit of its path in a walk, unless it is
    the path's last short string: its JSON type, distinct value and example. The JSON type."""
    name = JSON_TYPES.get(t, "object")
    types = stats.types
    types[name] = types.get(name, 0) + 1
    if name != "object" and name != "array":
        if len(stats.distinct) <= MAX_DISTINCT:
            stats.distinct.add(hash((name, value)))
        if stats.example is None:
            stats.example = example(value)
        if t is str and len(value) <= 256:
            stats.last = value
    return name
