"""Field coverage: per item type and SDK, every JSON path with how many items carry it, its
value types, distinct values and an example (section 2, :mod:`.fields`).

The paths are the places of a tree (:class:`Node`) met by the shared walk
(:mod:`.walker`), which also feeds the personal-data detector. Object keys that look like ids
(hex, UUIDs, numbers) fold to ``*``, maps under ``modules`` and ``vars`` are one ``*`` entry,
array elements are ``[]``. Bounds: :data:`MAX_PATHS` paths per item type and SDK (the rest
counted in ``paths_dropped``), :data:`MAX_DISTINCT` distinct values counted exactly per path
(beyond, "at least"), :data:`MAX_NODES` places remembered.

:meth:`FieldCoverage.merge` adds another coverage's paths: items and types add up, distinct
values are the union (exact below :data:`MAX_DISTINCT`, "at least" beyond as for one pass),
the example is this coverage's if it has one (the first met, ``self``'s records read first),
paths past :data:`MAX_PATHS` are counted as dropped. When ``other`` itself dropped paths, those
it dropped that this coverage holds stay counted as dropped (one pass would count them as
items): exact while ``other``'s ``paths_dropped`` is 0.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Protocol

import orjson

from sentry_mirror.core import pii
from sentry_mirror.core.report.bounded import Json, share

#: Field paths per (item type, SDK).
MAX_PATHS = 2_000
#: Distinct values counted exactly per path; beyond, "at least".
MAX_DISTINCT = 100
#: Example length, characters.
EXAMPLE_LENGTH = 60
#: Places remembered per item type and SDK; beyond, new ones are made afresh at each visit
#: (same figures, slower), so memory stays bounded on any input.
MAX_NODES = 20_000
#: Only subtrees this close to the top are remembered (the rest are inside them).
MEMO_DEPTH = 3
_FOLDED_UNDER = frozenset({"modules", "vars"})
_ID_KEY = re.compile(r"^(?:[0-9a-f]{8,}|[0-9a-f-]{36}|\d+)$", re.IGNORECASE)
JSON_TYPES = {type(None): "null", bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}


def json_type(value: Any) -> str:
    return JSON_TYPES.get(type(value), "object")


def example(value: Any) -> str:
    try:
        text = value if isinstance(value, str) else orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits (from the fallback JSON parser)
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= EXAMPLE_LENGTH else text[: EXAMPLE_LENGTH - 1] + "…"


@lru_cache(maxsize=8192)
def key_name(key: Any) -> str:
    """An object key as a path segment: ids (hex, UUIDs, numbers) fold to ``*``."""
    key = str(key)
    return "*" if _ID_KEY.match(key) else key


class PathStats:
    __slots__ = ("distinct", "example", "items", "last", "owner", "shared", "stamp", "types")

    def __init__(self, owner: Node | None = None) -> None:
        self.items = 0
        self.types: dict[str, int] = {}
        self.distinct: set[int] = set()
        self.example: str | None = None
        self.stamp = 0  # the walk that last counted this path (a path counts once per item)
        self.owner = owner  # the place that made it; shared: another place has the same path
        self.shared = False
        self.last: str | None = None  # the last short string counted here


DROPPED = PathStats()  # a path beyond MAX_PATHS: counted in "paths_dropped" only
UNSET = PathStats()  # a place not counted yet


class Node:
    """A place in the payloads of one item type and SDK: the path it counts for, and what is
    below it (object keys, ids folded to ``*``; array elements; the one ``*`` entry of a map
    under ``modules`` or ``vars``)."""

    __slots__ = (
        "children", "coverage", "depth", "descend", "element", "folded", "hits", "memo", "path", "single", "star",
        "stats", "tries",
    )  # fmt: skip

    def __init__(self, coverage: FieldCoverage, path: str, name: str, depth: int, single: bool) -> None:
        self.coverage = coverage
        self.path = path
        self.depth = depth
        self.descend = depth <= pii.MAX_DEPTH
        self.folded = name in _FOLDED_UNDER
        self.children: dict[str, Node] = {}
        self.element: Node | None = None
        self.star: Node | None = None
        #: a payload reaches this place at most once (object keys from the top, no ids, no arrays)
        self.single = single
        # (a map under modules/vars is cheaper to walk, one entry, than to write as JSON)
        self.memo: dict[bytes, Entry] | None = {} if single and 0 < depth <= MEMO_DEPTH and not self.folded else None
        self.tries = self.hits = 0
        self.stats: PathStats | None = UNSET if path else None  # made when first counted

    def child(self, key: str) -> Node:
        node = self.children.get(key)
        if node is not None:
            return node
        segment = key_name(key)
        node = self.children.get(segment) if segment != key else None
        if node is None:
            prefix = f"{self.path}." if self.path else ""
            node = self.coverage._node(self, prefix + segment, segment, segment == key and self.single)
            self.coverage._keep(self.children, segment, node)
        if segment != key:
            _not_single(node)  # ids fold to one place, which a payload can reach more than once
            self.coverage._keep(self.children, key, node)
        return node

    def items_node(self) -> Node:
        node = self.element
        if node is None:
            node = self.coverage._node(self, self.path + "[]", "", False)
            node.folded = self.folded  # array elements keep the name of the array's key
            if self.coverage._count_node():
                self.element = node
        return node

    def star_node(self) -> Node:
        node = self.star
        if node is None:
            node = self.coverage._node(self, f"{self.path}.*", "*", False)
            if self.coverage._count_node():
                self.star = node
        return node


def _not_single(node: Node) -> None:
    if node.single:
        node.single = False
        node.coverage.walker.forget(node)
        for child in (*node.children.values(), node.element, node.star):
            if child is not None:
                _not_single(child)


class Entry:
    """A remembered subtree: the paths it counts (first visit each, with the value type), the
    personal data it holds (row key, rule), and how many more times it was met (``hits``)."""

    __slots__ = ("cov", "epoch", "hits", "nulls", "original", "pii", "plain", "size")

    def __init__(self, cov: tuple[tuple[PathStats, str], ...], found: tuple[Any, ...], value: Any, blob: bytes,
                 epoch: int, size: int) -> None:  # fmt: skip
        self.cov = cov
        self.pii = found
        self.hits = 0
        self.epoch = epoch
        self.size = size
        # where the JSON says null, the value met again must be None (not NaN or Infinity, which
        # orjson also writes as null): the routes to them, or the whole value when there are many
        self.nulls: list[tuple[Any, ...]] | None = []
        self.original = None
        if b"null" in blob:
            self.nulls = _nulls(value, (), [])
            self.original = value if self.nulls is None else None
        self.plain = self.nulls == []  # nothing to check when met again

    def matches(self, value: Any) -> bool:
        """True when ``value``, whose JSON is this entry's, holds None wherever that JSON says null."""
        if self.nulls is None:
            return bool(self.original == value)
        for route in self.nulls:
            inner = value
            for step in route:
                inner = inner[step]
            if inner is not None:
                return False
        return True


def _nulls(value: Any, route: tuple[Any, ...], found: list[tuple[Any, ...]]) -> list[tuple[Any, ...]] | None:
    """The routes (keys and indexes) to the None values in ``value``; None beyond eight."""
    if value is None:
        found.append(route)
        return found if len(found) <= 8 else None
    pairs = value.items() if type(value) is dict else enumerate(value) if type(value) is list else ()
    for step, inner in pairs:
        if _nulls(inner, (*route, step), found) is None:
            return None
    return found


class FieldCoverage:
    """Paths of one (item type, SDK): how many items carry each, with what values. The
    ``walker`` walks the payloads (one walker for all coverages of a report)."""

    def __init__(self, walker: Walking) -> None:
        self.items = 0
        self.paths: dict[str, PathStats] = {}
        self.dropped = 0
        self.nodes = 0
        self.walker = walker
        self.root = Node(self, "", "", 0, True)

    def add(self, payload: Any, site: pii.Site | None = None) -> None:
        """Count one payload's paths (and, with a ``site``, collect its personal data in the walker)."""
        self.items += 1
        self.walker.walk(payload, self.root, site)

    def _count_node(self) -> bool:
        """True when one more place may be remembered."""
        if self.nodes < MAX_NODES:
            self.nodes += 1
            return True
        return False

    def _keep(self, children: dict[str, Node], key: str, node: Node) -> None:
        if children.get(key) is not node and self._count_node():
            children[key] = node

    def _node(self, parent: Node, path: str, name: str, single: bool) -> Node:
        return Node(self, path, name, parent.depth + 1, single)

    def _stats(self, path: str, node: Node) -> PathStats:
        stats = self.paths.get(path)
        if stats is None:
            if len(self.paths) >= MAX_PATHS:
                return DROPPED
            stats = self.paths[path] = PathStats(node)
        elif stats.owner is not node and not stats.shared:
            stats.shared = True  # two places, one path: remembered subtrees holding it are not used
            self.walker.shared_path()
        return stats

    def merge(self, other: FieldCoverage) -> None:
        """Add ``other``'s paths (see the module docstring); both walkers are flushed first."""
        self.walker.flush()
        other.walker.flush()
        self.items += other.items
        self.dropped += other.dropped
        for path, theirs in other.paths.items():
            stats = self.paths.get(path)
            if stats is None:
                if len(self.paths) >= MAX_PATHS:
                    self.dropped += theirs.items  # (a dropped path counts once per item carrying it)
                    continue
                stats = self.paths[path] = PathStats()  # no place owns it here: a walk met here shares it
                stats.shared = True
            stats.items += theirs.items
            for kind, n in theirs.types.items():
                stats.types[kind] = stats.types.get(kind, 0) + n
            for value in theirs.distinct:
                if len(stats.distinct) > MAX_DISTINCT:
                    break
                stats.distinct.add(value)
            if stats.example is None:
                stats.example = theirs.example

    def to_json(self, item_type: str, sdk: str) -> Json:
        self.walker.flush()
        paths = []
        for path, stats in sorted(self.paths.items()):
            capped = len(stats.distinct) > MAX_DISTINCT
            paths.append(
                {
                    "path": path,
                    "items": stats.items,
                    "share": share(stats.items, self.items),
                    "types": dict(sorted(stats.types.items())),
                    "distinct": min(len(stats.distinct), MAX_DISTINCT),
                    "distinct_capped": capped,
                    "example": stats.example,
                }
            )
        return {"item_type": item_type, "sdk": sdk, "items": self.items, "paths_dropped": self.dropped, "paths": paths}


class Walking(Protocol):
    """What a coverage asks of the walker that fills it (:class:`.walker.Walker`)."""

    def walk(self, payload: Any, root: Node, site: pii.Site | None, *, remember: bool = True) -> None: ...

    def shared_path(self) -> None: ...

    def flush(self, *, forget: bool = False) -> None: ...

    def forget(self, node: Node) -> None: ...
