"""The data-feasibility report: what the SDKs sent, in one pass over the records.

:func:`build_report` reads records once (each envelope is parsed once) and keeps bounded
aggregates only: counters capped at :data:`MAX_KEYS` distinct keys, reservoirs of
:data:`RESERVOIR_SIZE` values for percentiles (exact up to that many, a uniform sample
beyond), at most :data:`MAX_PATHS` field paths per item type and SDK and
:data:`MAX_DISTINCT` distinct values per path; size figures for the first
:data:`MAX_SIZED_TYPES` item types, field coverage for the first :data:`MAX_SDKS` SDKs per
item type, rows for the first :data:`MAX_SPAN_OPS` span ops and :data:`MAX_MONITORS`
monitors, the rest counted together under :data:`OTHER` (``"(other)"``). The issues and
the transactions come from :mod:`sentry_mirror.core.grouping` (the same grouping as
``sentry-mirror group``).

Every section but ``traffic`` and ``server`` reads only the requests that were accepted
(answered 2xx, as Sentry would have answered them): refused ones are counted, not analysed.

Sections (:data:`SECTIONS`), in the issue's numbering:

1. ``traffic``      requests, envelopes, items by type, endpoint, project, SDK, platform; rate
                    per minute with peaks and the busiest second; sizes per item type against
                    Sentry's limits; encodings and auth forms
2. ``fields``       per item type and SDK, every JSON path with its coverage, value types,
                    distinct values and a truncated example; highlights for the fields a
                    server UI needs
3. ``issues``       the top groups
4. ``performance``  transactions by name and op, spans by op, with duration p50/p95
5. ``health``       sessions by status and the crash-free share; check-ins by monitor and status
6. ``dropped``      ``client_report`` discarded events by reason and category
7. ``pii``          personal data per path and kind, and what Sentry's default scrubbing removes
8. ``sourcemaps``   minified-looking JavaScript frames, debug ids, releases
9. ``server``       what a server must support, with counts, and the storage per day

JSON schema (:meth:`Report.to_json`, version :data:`SCHEMA_VERSION`); a new key may be added
within a version, a key is never renamed or removed without a new version::

    {"schema": "sentry-mirror-report", "version": 1,
     "sections": [names of the sections present],
     "malformed": {"records" (skipped: not what the listener writes, or failed on; each named in a
                   warning), "examples": [{"id", "reason"}] (the first five),
                   "fields": {"<item type>.<field> is <JSON type>": n} (ignored: not the protocol's type)},
     "traffic": {"requests", "envelopes", "items", "accepted", "refused",
                 "first", "last", "duration_s",
                 "items_by_type", "by_endpoint", "by_project", "by_sdk", "by_platform",
                 "by_status": {name: count},
                 "per_minute": {"YYYY-MM-DDTHH:MM": requests}, "peak_minutes": [[minute, n]],
                 "busiest_second": {"second", "requests"}, "mean_per_minute",
                 "sizes": {item type: {"count", "p50", "p95", "max", "limit", "over_limit"}},
                 "wire": {"count", "p50", "p95", "max", "total"}, "decoded": {... same ...},
                 "would_be_rejected": {item type: envelopes}, "encodings", "auth_forms",
                 "truncated": [names of counters that hit MAX_KEYS]},
     "fields": {"types": [{"item_type", "sdk", "items", "paths_dropped",
                           "paths": [{"path", "items", "share", "types": {json type: n},
                                      "distinct", "distinct_capped", "example"}]}],
                "highlights": {"events", "exception_chain": {p50, p95, max},
                               "frames", "frames_with_context", "frames_in_app", "frames_with_vars",
                               "breadcrumbs": {count, p50, p95, max}, "present": {field: share}}},
     "issues": {"groups", "events", "top": [group dicts as `group --json`]},
     "performance": {"transactions", "spans",
                     "by_transaction": [transaction group dicts as `group --item-type transaction --json`],
                     "span_ops": [{"op", "count", "p50_ms", "p95_ms"}]},
     "health": {"session_updates", "sessions_by_status", "aggregates", "ended_sessions",
                "crash_free" (1 - (crashed + unhandled) / ended, over updates and aggregates; null if none ended),
                "check_ins": [{"monitor", "statuses": {status: n}, "count"}]},
     "dropped": {"reports", "total", "by_reason": {}, "by_category": {},
                 "rows": [{"reason", "category", "quantity"}]},
     "pii": {"engine": "builtin"|"relay" (who decided "scrubbed_by"), "payloads", "scanned",
             "kinds": {kind: occurrences}, "truncated",
             "disagreements": [{"item_type", "path", "builtin", "relay", "count"}] (relay engine only;
                               a rule name or "kept"), "relay_only": [{"item_type", "path", "rule",
                               "count"}] (what Relay scrubs that no kind was found in), "relay_failures",
             "fields": [{"item_type", "path", "kind", "count", "examples", "scrubbed_by",
                         "kept"}], "kept_by_sentry": {kind: occurrences}},
     "sourcemaps": {"js_events", "js_frames", "minified_frames", "minified_share",
                    "with_debug_meta", "debug_ids", "image_types", "releases",
                    "events", "events_with_release", "events_with_dist"},
     "server": {"endpoints", "methods", "item_types", "encodings", "auth_forms",
                "content_types", "headers", "sdks", "bytes_per_day", "requests_per_day",
                "decoded_bytes_per_day"}}

All sizes are bytes, durations milliseconds, shares fractions in [0, 1] rounded to 4 places.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

import orjson

from sentry_mirror.core import bodies, grouping, pii
from sentry_mirror.core.describe import split_sdk
from sentry_mirror.core.grouping import Group, Sample, TransactionGroup, duration_ms
from sentry_mirror.core.limits import EVENT_LIKE, ITEM_LIMITS, MAX_EVENT_SIZE
from sentry_mirror.core.malformed import FATAL, Malformed
from sentry_mirror.core.record import Record, parse_time
from sentry_mirror.core.stats import interpolated
from sentry_mirror.core.tolerant import Remarks, as_list

SCHEMA = "sentry-mirror-report"
SCHEMA_VERSION = 1
SECTIONS = ("traffic", "fields", "issues", "performance", "health", "dropped", "pii", "sourcemaps", "server")

#: Distinct keys per counter (endpoints, SDKs, minutes, headers …); further keys are not counted.
MAX_KEYS = 10_080  # a week of minutes
#: Values kept for percentiles per size or duration series.
RESERVOIR_SIZE = 10_000
#: Field paths per (item type, SDK).
MAX_PATHS = 2_000
#: Distinct values counted exactly per path; beyond, "at least".
MAX_DISTINCT = 100
#: Example length, characters.
EXAMPLE_LENGTH = 60
#: Per-key tables are bounded too: the first MAX_SIZED_TYPES item types get size figures, the
#: first MAX_SDKS SDKs per item type a field coverage, the first MAX_SPAN_OPS span ops and
#: MAX_MONITORS monitors a row; the rest are counted together under OTHER.
MAX_SIZED_TYPES = 100
MAX_SDKS = 50
MAX_SPAN_OPS = 500
MAX_MONITORS = 1_000
OTHER = "(other)"
#: Keys counted before they go to the rows and counters (_count_pii, _count_tally).
_MAX_PENDING = 4096
#: Distinct request shapes (status, endpoint, project, method, encoding, auth form, header
#: names, content types, SDK, item types) counted before they go to the counters.
_MAX_SHAPES = 4096
#: Groups listed in the issues section.
TOP_GROUPS = 20
#: PII rows kept (path, kind, item type) and examples per row.
MAX_PII_ROWS = 1_000
MAX_EXAMPLES = 3
#: Items whose payload is JSON, read for fields and personal data.
JSON_ITEM_TYPES = frozenset(
    {"event", "transaction", "feedback", "session", "sessions", "client_report", "check_in", "log", "span",
     "trace_metric", "user_report", "profile", "replay_event", "security", "raw_security"}
)  # fmt: skip
#: Item types whose payloads are events (field highlights, source maps).
_EVENTISH = frozenset({"event", "transaction", "feedback"})
#: Session statuses that end a session; crash-free counts "crashed" and "unhandled" as crashes.
_ENDED = ("exited", "crashed", "abnormal", "errored", "unhandled")
_JS_PLATFORMS = frozenset({"javascript", "node"})
_MINIFIED_FILE = re.compile(r"(\.min\.js|[.-][0-9a-f]{8,}\.m?js|/chunk[-.]|bundle[.-])", re.IGNORECASE)
_FOLDED_UNDER = frozenset({"modules", "vars"})
_ID_KEY = re.compile(r"^(?:[0-9a-f]{8,}|[0-9a-f-]{36}|\d+)$", re.IGNORECASE)
_HEADER_LIMITS = {
    **dict.fromkeys(EVENT_LIKE, (MAX_EVENT_SIZE, 1)),
    **ITEM_LIMITS,
}

Json = dict[str, Any]


# ---------------------------------------------------------------- small bounded aggregates


class Capped(Counter[str]):
    """A Counter that stops taking new keys at ``limit`` (``truncated`` says it did)."""

    def __init__(self, limit: int = MAX_KEYS) -> None:
        super().__init__()
        self.limit = limit
        self.truncated = False

    def add(self, key: Any, n: int = 1) -> None:
        key = "-" if key is None or key == "" else str(key)
        if key in self or len(self) < self.limit:
            self[key] += n
        else:
            self.truncated = True


class Reservoir:
    """Count, total and maximum of a series, and a uniform sample of it for percentiles.
    ``count`` may also count members without a value (a span with no duration)."""

    __slots__ = ("count", "maximum", "sample", "total")

    def __init__(self, size: int = RESERVOIR_SIZE) -> None:
        self.count = 0
        self.total = 0.0
        self.maximum: float | None = None
        self.sample = Sample(size)

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        maximum = self.maximum
        if maximum is None or value > maximum:
            self.maximum = value
        self.sample.add(value)

    def to_json(self) -> Json:
        ordered = sorted(self.sample.values)
        return {
            "count": self.count,
            "p50": _num(interpolated(ordered, 0.5)) if ordered else None,
            "p95": _num(interpolated(ordered, 0.95)) if ordered else None,
            "max": _num(self.maximum) if self.maximum is not None else None,
            "total": _num(self.total),
        }


def _num(value: float) -> float | int:
    value = round(value, 3)
    return int(value) if value == int(value) else value


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _sorted(counter: Mapping[str, int]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


_JSON_TYPES = {type(None): "null", bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), "object")


def _example(value: Any) -> str:
    try:
        text = value if isinstance(value, str) else orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits (from the fallback JSON parser)
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= EXAMPLE_LENGTH else text[: EXAMPLE_LENGTH - 1] + "…"


# ---------------------------------------------------------------- field coverage and the shared walk
#
# One walk over each payload feeds both the field coverage (per path: items carrying it, value
# types, distinct values, an example) and the personal-data detector (pii.Site: per path, what
# a value holds). Both remember the places they have met in a tree (coverage _Node, pii.Site),
# so a path's decisions are made once, not per payload. SDK payloads repeat whole subtrees
# (modules, sdk, runtime contexts, an exception raised again): the subtree under a place met at
# most once per payload (object keys only, no arrays, no folded keys) is remembered by its JSON
# (_Entry) with what it added, and the next identical one only counts one more use; the counts
# are added when the report is built. The figures are the same as walking every payload in full.

#: Places remembered per item type and SDK; beyond, new ones are made afresh at each visit
#: (same figures, slower), so memory stays bounded on any input.
MAX_NODES = 20_000
#: Subtrees remembered, in bytes of their JSON in all; one bigger than MEMO_MAX is not.
MEMO_BYTES = 8 << 20
MEMO_MAX = 32 << 10
#: Only subtrees this close to the top are remembered (the rest are inside them).
MEMO_DEPTH = 3
#: A place stops remembering its subtrees once this many were looked up with fewer than one
#: in _MEMO_MIN_HITS found again (they carry ids or times).
_MEMO_TRIAL = 32
_MEMO_MIN_HITS = 8


class _PathStats:
    __slots__ = ("distinct", "example", "items", "last", "owner", "shared", "stamp", "types")

    def __init__(self, owner: _Node | None = None) -> None:
        self.items = 0
        self.types: dict[str, int] = {}
        self.distinct: set[int] = set()
        self.example: str | None = None
        self.stamp = 0  # the walk that last counted this path (a path counts once per item)
        self.owner = owner  # the place that made it; shared: another place has the same path
        self.shared = False
        self.last: str | None = None  # the last short string counted here


_MISSING: Any = object()
_DROPPED = _PathStats()  # a path beyond MAX_PATHS: counted in "paths_dropped" only
_UNSET = _PathStats()  # a place not counted yet


class _Node:
    """A place in the payloads of one item type and SDK: the path it counts for, and what is
    below it (object keys, ids folded to ``*``; array elements; the one ``*`` entry of a map
    under ``modules`` or ``vars``)."""

    __slots__ = (
        "children", "coverage", "depth", "descend", "element", "folded", "hits", "memo", "path", "single", "star",
        "stats", "tries",
    )  # fmt: skip

    def __init__(self, coverage: _FieldCoverage, path: str, name: str, depth: int, single: bool) -> None:
        self.coverage = coverage
        self.path = path
        self.depth = depth
        self.descend = depth <= pii.MAX_DEPTH
        self.folded = name in _FOLDED_UNDER
        self.children: dict[str, _Node] = {}
        self.element: _Node | None = None
        self.star: _Node | None = None
        #: a payload reaches this place at most once (object keys from the top, no ids, no arrays)
        self.single = single
        # (a map under modules/vars is cheaper to walk, one entry, than to write as JSON)
        self.memo: dict[bytes, _Entry] | None = {} if single and 0 < depth <= MEMO_DEPTH and not self.folded else None
        self.tries = self.hits = 0
        self.stats: _PathStats | None = _UNSET if path else None  # made when first counted

    def child(self, key: str) -> _Node:
        node = self.children.get(key)
        if node is not None:
            return node
        segment = _key_name(key)
        node = self.children.get(segment) if segment != key else None
        if node is None:
            prefix = f"{self.path}." if self.path else ""
            node = self.coverage._node(self, prefix + segment, segment, segment == key and self.single)
            self.coverage._keep(self.children, segment, node)
        if segment != key:
            _not_single(node)  # ids fold to one place, which a payload can reach more than once
            self.coverage._keep(self.children, key, node)
        return node

    def items_node(self) -> _Node:
        node = self.element
        if node is None:
            node = self.coverage._node(self, self.path + "[]", "", False)
            node.folded = self.folded  # array elements keep the name of the array's key
            if self.coverage._count_node():
                self.element = node
        return node

    def star_node(self) -> _Node:
        node = self.star
        if node is None:
            node = self.coverage._node(self, f"{self.path}.*", "*", False)
            if self.coverage._count_node():
                self.star = node
        return node


def _not_single(node: _Node) -> None:
    if node.single:
        node.single = False
        node.coverage.walker._forget(node)
        for child in (*node.children.values(), node.element, node.star):
            if child is not None:
                _not_single(child)


class _Entry:
    """A remembered subtree: the paths it counts (first visit each, with the value type), the
    personal data it holds (row key, rule), and how many more times it was met (``hits``)."""

    __slots__ = ("cov", "epoch", "hits", "nulls", "original", "pii", "plain", "size")

    def __init__(self, cov: tuple[tuple[_PathStats, str], ...], found: tuple[Any, ...], value: Any, blob: bytes,
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


class _FieldCoverage:
    """Paths of one (item type, SDK): how many items carry each, with what values."""

    def __init__(self, walker: _Walker | None = None) -> None:
        self.items = 0
        self.paths: dict[str, _PathStats] = {}
        self.dropped = 0
        self.nodes = 0
        self.walker = walker or _Walker()
        self.root = _Node(self, "", "", 0, True)

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

    def _keep(self, children: dict[str, _Node], key: str, node: _Node) -> None:
        if children.get(key) is not node and self._count_node():
            children[key] = node

    def _node(self, parent: _Node, path: str, name: str, single: bool) -> _Node:
        return _Node(self, path, name, parent.depth + 1, single)

    def _stats(self, path: str, node: _Node) -> _PathStats:
        stats = self.paths.get(path)
        if stats is None:
            if len(self.paths) >= MAX_PATHS:
                return _DROPPED
            stats = self.paths[path] = _PathStats(node)
        elif stats.owner is not node and not stats.shared:
            stats.shared = True  # two places, one path: remembered subtrees holding it are not used
            self.walker._shared()
        return stats

    def to_json(self, item_type: str, sdk: str) -> Json:
        self.walker.flush()
        paths = []
        for path, stats in sorted(self.paths.items()):
            capped = len(stats.distinct) > MAX_DISTINCT
            paths.append(
                {
                    "path": path,
                    "items": stats.items,
                    "share": _share(stats.items, self.items),
                    "types": dict(sorted(stats.types.items())),
                    "distinct": min(len(stats.distinct), MAX_DISTINCT),
                    "distinct_capped": capped,
                    "example": stats.example,
                }
            )
        return {"item_type": item_type, "sdk": sdk, "items": self.items, "paths_dropped": self.dropped, "paths": paths}


class _Walker:
    """The walk over each payload (see the comment above :data:`MAX_NODES`), and the subtrees
    remembered. After :meth:`walk`, ``found`` holds ``(path, pii.Found)`` per scalar with
    personal data, in document order; ``rows`` are the personal-data rows the remembered
    subtrees add to when flushed."""

    def __init__(self, rows: dict[tuple[str, str, str], _PiiRow] | None = None) -> None:
        self.rows = rows if rows is not None else {}
        self.walk_id = 0
        self.epoch = 0  # moves when a path becomes shared: remembered subtrees are checked again
        self.taint = 0  # moves when what is being walked cannot be remembered
        self.kind = ""
        self.counted: list[tuple[_PathStats, str]] = []  # first visits, in order
        self.found: list[tuple[str, pii.Found]] = []
        self.reused: list[tuple[Any, ...]] = []  # the personal data of subtrees met again
        self.hit: list[_Entry] = []  # remembered subtrees met in this walk
        self.dropped_paths: set[str] = set()
        self.memo_bytes = 0
        self.memo_nodes: list[_Node] = []
        self.remember = True
        self.recording = 0  # subtrees being walked to be remembered
        self.before_rows: Any = lambda: None

    def walk(self, payload: Any, root: _Node, site: pii.Site | None, *, remember: bool = True) -> None:
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

    def _count(self, node: _Node, value: Any) -> None:
        """The first visit of ``node``'s path in this walk counts ``value``."""
        stats = node.stats
        if stats is None:
            return
        if stats is _UNSET:
            stats = node.stats = node.coverage._stats(node.path, node)
        if stats.stamp == self.walk_id:
            if stats.shared:
                self.taint += 1
            return
        stats.stamp = self.walk_id
        if stats is _DROPPED:
            self.taint += 1
            if node.path not in self.dropped_paths:
                self.dropped_paths.add(node.path)
                node.coverage.dropped += 1
            stats.stamp = 0
            return
        stats.items += 1
        kind = _JSON_TYPES.get(type(value), "object")
        types = stats.types
        types[kind] = types.get(kind, 0) + 1
        if kind != "object" and kind != "array":
            if len(stats.distinct) <= MAX_DISTINCT:
                stats.distinct.add(hash((kind, value)))
            if stats.example is None:
                stats.example = _example(value)
        if self.recording:
            self.counted.append((stats, kind))

    def _value(self, value: Any, node: _Node | None, site: pii.Site | None) -> None:
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

    def _remembered(self, value: Any, node: _Node, site: pii.Site | None) -> None:
        """A dict or list at a place that remembers its subtrees (``node.memo``): walked and
        remembered, the place's own count included, or one more use of what it added."""
        memo = node.memo
        if site is not None and not site.descend:
            site = None
        try:
            blob = orjson.dumps(value)
        except TypeError:  # not JSON as orjson writes it (huge integers, lone surrogates)
            self._count(node, value)
            self._children(value, node, site)
            return
        node.tries += 1  # type: ignore[union-attr]
        entry = memo.get(blob)
        if entry is not None and entry.epoch != self.epoch:
            if any(stats.shared for stats, _ in entry.cov):
                self._drop(node, blob)  # type: ignore[arg-type]
                entry = None
            else:
                entry.epoch = self.epoch
        if entry is not None and (entry.plain or entry.matches(value)):
            node.hits += 1  # type: ignore[union-attr]
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
        entry = _Entry(cov, tuple(rows), value, blob, self.epoch, 0)
        entry.size = size = len(blob) * (1 if entry.original is None else 8) + 48 * (len(cov) + len(rows)) + 200
        if self.memo_bytes + size > MEMO_BYTES:
            self.flush(forget=True)
        if node.tries >= _MEMO_TRIAL and node.hits * _MEMO_MIN_HITS < node.tries:  # type: ignore[union-attr]
            self._forget(node)  # type: ignore[arg-type]  # its subtrees do not repeat
            return
        if not memo:
            self.memo_nodes.append(node)  # type: ignore[arg-type]
        memo[blob] = entry
        self.memo_bytes += size

    def _children(self, value: Any, node: _Node | None, site: pii.Site | None) -> None:
        # _value, inlined for the common cases (most values are scalars under object keys)
        walk_id = self.walk_id
        counted = self.counted if self.recording else None  # (only a subtree being remembered needs them)
        found = self.found
        json_types = _JSON_TYPES
        remember = self.remember
        if type(value) is dict:
            if node is not None and node.folded:
                # a map keyed by names (packages, variables): one path for all, typed by its first entry
                star: _Node | None = node.star_node()
                for key, inner in value.items():
                    self._value(inner, star, site.child(key) if site is not None else None)
                    star = None
                    if site is None:
                        break
                return
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
                            if t is str and inner == stats.last:
                                # the same text as last time: type counted before, value and example known
                                name = "string"
                                stats.types[name] += 1
                            else:
                                name = json_types.get(t, "object")
                                types = stats.types
                                types[name] = types.get(name, 0) + 1
                                if name != "object" and name != "array":
                                    if len(stats.distinct) <= MAX_DISTINCT:
                                        stats.distinct.add(hash((name, inner)))
                                    if stats.example is None:
                                        stats.example = _example(inner)
                                    if t is str and len(inner) <= 256:
                                        stats.last = inner
                            if counted is not None:
                                counted.append((stats, name))
                        else:
                            self._count(cn, inner)
                if t is dict or t is list:
                    if cn is not None and not cn.descend:
                        cn = None
                    if cs is not None and not cs.descend:
                        cs = None
                    if cn is not None or cs is not None:
                        self._children(inner, cn, cs)
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
            return
        element = node.items_node() if node is not None else None
        if site is not None and site.pairs(value):
            # [name, value] pairs (headers, cookies): a map for personal data, arrays for coverage
            inner_node = element.items_node() if element is not None and element.descend else None
            for pair in value:
                name, inner = pair
                if element is not None:
                    self._count(element, pair)
                if inner_node is not None:
                    self._count(inner_node, name)
                self._value(inner, inner_node, site.child(name))
            return
        inner_site = site.element() if site is not None else None
        for inner in value:
            cn, cs = element, inner_site
            t = type(inner)
            if cn is not None:
                stats = cn.stats
                if stats is not None:
                    if stats.stamp != walk_id and stats.owner is not None:  # _count, inlined
                        stats.stamp = walk_id
                        stats.items += 1
                        if t is str and inner == stats.last:
                            # the same text as last time: type counted before, value and example known
                            name = "string"
                            stats.types[name] += 1
                        else:
                            name = json_types.get(t, "object")
                            types = stats.types
                            types[name] = types.get(name, 0) + 1
                            if name != "object" and name != "array":
                                if len(stats.distinct) <= MAX_DISTINCT:
                                    stats.distinct.add(hash((name, inner)))
                                if stats.example is None:
                                    stats.example = _example(inner)
                                if t is str and len(inner) <= 256:
                                    stats.last = inner
                        if counted is not None:
                            counted.append((stats, name))
                    else:
                        self._count(cn, inner)
            if t is dict or t is list:
                if cn is not None and not cn.descend:
                    cn = None
                if cs is not None and not cs.descend:
                    cs = None
                if cn is not None or cs is not None:
                    self._children(inner, cn, cs)
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

    def _shared(self) -> None:
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

    def _apply(self, entry: _Entry) -> None:
        """Add an entry's uses to the figures."""
        times = entry.hits
        if times:
            for stats, kind in entry.cov:
                stats.items += times
                stats.types[kind] += times
            self._add_rows(entry.pii, times)
            entry.hits = 0

    def _retire(self, entry: _Entry) -> None:
        """Add an entry's uses to the figures before forgetting it; if this walk met it, its
        paths count as visited in this walk."""
        self._apply(entry)
        self.memo_bytes -= entry.size
        if any(entry is met for met in self.hit):
            self.hit = [met for met in self.hit if met is not entry]
            for stats, _ in entry.cov:
                stats.stamp = self.walk_id

    def _drop(self, node: _Node, blob: bytes) -> None:
        self._retire(node.memo.pop(blob))  # type: ignore[union-attr]

    def _forget(self, node: _Node) -> None:
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


@lru_cache(maxsize=8192)
def _key_name(key: Any) -> str:
    """An object key as a path segment: ids (hex, UUIDs, numbers) fold to ``*``."""
    key = str(key)
    return "*" if _ID_KEY.match(key) else key


# ---------------------------------------------------------------- event highlights

#: What the highlights count events carrying (contexts: an object under that name).
_PRESENT = (
    "exception", "stack frames", "breadcrumbs", "user", "request", "tags", "contexts.os", "contexts.browser",
    "contexts.runtime", "contexts.device", "contexts.trace", "release", "environment", "server_name", "modules",
)  # fmt: skip


def _breadcrumbs(event: Mapping[str, Any]) -> list[Any]:
    crumbs = event.get("breadcrumbs")
    values = crumbs.get("values") if isinstance(crumbs, dict) else crumbs
    return values if isinstance(values, list) else []


class _Highlights:
    def __init__(self) -> None:
        self.events = 0
        self.chain = Reservoir()
        self.breadcrumbs = Reservoir()
        self.frames = self.with_context = self.in_app = self.with_vars = 0
        self.present: dict[tuple[bool, ...], int] = {}  # at most 2**15 combinations

    def add(self, event: Mapping[str, Any]) -> None:
        self.events += 1
        exceptions = grouping.exceptions_of(event)
        if exceptions:
            self.chain.add(len(exceptions))
        crumbs = _breadcrumbs(event)
        self.breadcrumbs.add(len(crumbs))
        frames = [f for x in exceptions for f in grouping.frames_of(x)] or grouping.event_frames(event)
        get = event.get
        user, request, contexts = get("user"), get("request"), get("contexts")
        if not isinstance(contexts, dict):
            contexts = {}
        # the _PRESENT tests, in their order (one count per combination, added up in to_json)
        present = (
            bool(exceptions), bool(frames), bool(crumbs), isinstance(user, dict) and bool(user),
            isinstance(request, dict) and bool(request), bool(get("tags")),
            isinstance(contexts.get("os"), dict), isinstance(contexts.get("browser"), dict),
            isinstance(contexts.get("runtime"), dict), isinstance(contexts.get("device"), dict),
            isinstance(contexts.get("trace"), dict), bool(get("release")), bool(get("environment")),
            bool(get("server_name")), bool(get("modules")),
        )  # fmt: skip
        self.present[present] = self.present.get(present, 0) + 1
        with_context = in_app = with_vars = 0
        for frame in frames:
            with_context += bool(frame.get("context_line"))
            in_app += frame.get("in_app") is True
            with_vars += bool(frame.get("vars"))
        self.frames += len(frames)
        self.with_context += with_context
        self.in_app += in_app
        self.with_vars += with_vars

    def to_json(self) -> Json:
        chain = self.chain.to_json()
        crumbs = self.breadcrumbs.to_json()
        return {
            "events": self.events,
            "exception_chain": {k: chain[k] for k in ("count", "p50", "p95", "max")},
            "frames": self.frames,
            "frames_with_context": _share(self.with_context, self.frames),
            "frames_in_app": _share(self.in_app, self.frames),
            "frames_with_vars": _share(self.with_vars, self.frames),
            "breadcrumbs": {k: crumbs[k] for k in ("count", "p50", "p95", "max")},
            "present": {
                name: _share(sum(n for flags, n in self.present.items() if flags[index]), self.events)
                for index, name in enumerate(_PRESENT)
            },
        }


# ---------------------------------------------------------------- the report


@dataclass(frozen=True)
class Report:
    """A built report: one JSON-ready dict per section, plus the groups it lists (for diff).

    ``sections`` maps each section's name to its data, in :data:`SECTIONS` order; see the
    module docstring for the shape of each."""

    sections: dict[str, Json]
    groups: tuple[Group, ...] = ()
    transactions: tuple[TransactionGroup, ...] = ()
    pii_engine: str = pii.ENGINE
    malformed: Json = field(default_factory=lambda: {"records": 0, "examples": [], "fields": {}})

    def to_json(self) -> Json:
        return {
            "schema": SCHEMA,
            "version": SCHEMA_VERSION,
            "sections": list(self.sections),
            "malformed": self.malformed,
            **self.sections,
        }

    def section(self, name: str) -> Json:
        return self.sections.get(name, {})


@dataclass
class _PiiRow:
    count: int = 0
    examples: list[str] = field(default_factory=list)
    scrubbed: Counter[str] = field(default_factory=Counter)


class ReportBuilder:
    """Feed it record dicts with :meth:`add`, then :meth:`build` the :class:`Report`."""

    def __init__(
        self,
        *,
        top_groups: int = TOP_GROUPS,
        scan_pii: bool = True,
        pii_engine: str = pii.ENGINE,
        malformed: Malformed | None = None,
    ) -> None:
        if pii_engine not in (pii.ENGINE, pii.RELAY_ENGINE):
            raise ValueError(f"unknown personal-data engine {pii_engine!r}")
        self.top_groups = top_groups
        self.scan_pii = scan_pii
        self.pii_engine = pii_engine
        self.disagreements = Capped(MAX_PII_ROWS)
        self.relay_only = Capped(MAX_PII_ROWS)
        self.relay_failures = 0
        self.requests = self.envelopes = self.item_count = self.accepted = self.refused = 0
        self.first = self.last = ""
        self.counters: dict[str, Capped] = {
            name: Capped()
            for name in (
                "items_by_type", "by_endpoint", "by_project", "by_sdk", "by_platform", "by_status", "per_minute",
                "encodings", "auth_forms", "methods", "content_types", "headers", "would_be_rejected",
            )
        }  # fmt: skip
        self.item_sizes: dict[str, Reservoir] = {}
        self.over_limit: Counter[str] = Counter()
        self.wire = Reservoir()
        self.decoded = Reservoir()
        self.second = ""
        self.second_count = 0
        self.minute = ""
        self.minute_count = 0
        self.shapes: dict[tuple[Any, ...], list[Any]] = {}
        self.content_type_at: dict[tuple[Any, ...], tuple[int, ...]] = {}  # header names: where Content-Type is
        self.busiest = ("", 0)
        self.coverage: dict[tuple[str, str], _FieldCoverage] = {}
        self.sdks_per_type: dict[str, int] = {}
        self.highlights = _Highlights()
        self.grouper = grouping.Grouper(grouping.DEFAULT_STRATEGY, grouping.MAX_IDS)
        self.transactions = grouping.TransactionGrouper(RESERVOIR_SIZE)
        self.span_ops: dict[str, Reservoir] = {}
        self.span_count = 0
        self.session_updates = 0
        self.session_status = Capped()
        self.aggregates: Counter[str] = Counter()
        self.check_ins: dict[str, Capped] = {}
        self.dropped = Capped()
        self.client_reports = 0
        self.pii_rows: dict[tuple[str, str, str], _PiiRow] = {}
        self.scanner = pii.Scanner()
        self.walker = _Walker(self.pii_rows)
        self.walker.before_rows = self._count_pii  # rows are made in the order met, before reuses add to them
        self.one_walk = scan_pii and pii_engine == pii.ENGINE
        #: personal data per (item type, path, what one value holds), and counter keys, counted
        #: before they go to the rows and counters (in the order first met: the same figures)
        self.pii_pending: dict[tuple[str, str, pii.Found], int] = {}
        self.tally: dict[tuple[str, Any], int] = {}
        self.pii_payloads = 0
        self.pii_truncated = False
        self.js_events = self.js_frames = self.minified = self.with_debug_meta = 0
        self.debug_ids = 0
        self.image_types = Capped()
        self.releases = Capped()
        self.events = self.events_with_release = self.events_with_dist = 0
        self.remarks = Remarks()
        self.malformed = malformed if malformed is not None else Malformed(where="report")

    # ------------------------------------------------------------ per record

    def add(self, record: Record | Mapping[str, Any]) -> None:
        data = record.data if isinstance(record, Record) else record
        try:
            self._add(data)
        except FATAL:
            raise
        except Exception as exc:
            self.malformed.failed(data, exc)

    def _add(self, data: Mapping[str, Any]) -> None:
        self.requests += 1
        received = data.get("received_at") or ""
        if received:
            if not self.first or received < self.first:
                self.first = received
            if received > self.last:
                self.last = received
            minute = received[:16]
            if minute == self.minute:
                self.minute_count += 1
            else:
                self._count_minute()
                self.minute, self.minute_count = minute, 1
            second = received[:19]
            if second == self.second:
                self.second_count += 1
            else:
                self.second, self.second_count = second, 1
            if self.second_count > self.busiest[1]:
                self.busiest = (second, self.second_count)
        status = (data.get("response") or {}).get("status") or 0
        if 200 <= status < 300:
            self.accepted += 1
        else:
            self.refused += 1
        endpoint = data.get("endpoint") or "unknown"
        auth = data.get("auth") or {}
        self.wire.add(data.get("wire_size") or 0)
        self.decoded.add(data.get("body_size") or 0)
        summary = data.get("summary") or {}
        sdk = summary.get("sdk") or (auth.get("sentry_client") if isinstance(auth, dict) else None)
        items = [item for item in summary.get("items") or () if isinstance(item, dict)]
        headers = data.get("headers") or ()
        names = tuple([pair[0] for pair in headers])
        where = self.content_type_at.get(names)
        if where is None:
            where = tuple(n for n, name in enumerate(names) if str(name).lower() == "content-type")
            if len(self.content_type_at) < _MAX_SHAPES:
                self.content_type_at[names] = where
        content_types = tuple([headers[n][1] for n in where]) if where else ()
        # counted per distinct shape, added to the counters in the order first seen (_count_shapes)
        shape = (
            status, endpoint, data.get("project_id"), data.get("method"), data.get("content_encoding") or "identity",
            auth.get("form") if isinstance(auth, dict) else None, names, content_types, sdk,
            tuple([str(item.get("type") or "-") for item in items]),
        )  # fmt: skip
        seen = self.shapes.get(shape)
        if seen is None:
            if len(self.shapes) >= _MAX_SHAPES:
                self._count_shapes()
            seen = self.shapes[shape] = [0, split_sdk(sdk)[0] or "-"]
        seen[0] += 1
        if endpoint in ("envelope", "tunnel") or (items and endpoint == "store" and len(items) > 1):
            self.envelopes += 1
        self._sizes(items)
        if not 200 <= status < 300:
            return  # Sentry would not have stored it: no fields, issues, sessions … from it
        if endpoint == "cron":
            self._cron(data)
        self._payloads(data, items, seen[1])

    def _count_minute(self) -> None:
        if self.minute_count:
            self.counters["per_minute"].add(self.minute, self.minute_count)
            self.minute_count = 0

    def _count_shapes(self) -> None:
        """Add the request shapes counted so far to the counters."""
        c = self.counters
        for shape, (times, _) in self.shapes.items():
            status, endpoint, project, method, encoding, form, names, content_types, sdk, kinds = shape
            c["by_status"].add(status, times)
            c["by_endpoint"].add(endpoint, times)
            c["by_project"].add(project, times)
            c["methods"].add(method, times)
            c["encodings"].add(encoding, times)
            c["auth_forms"].add(form, times)
            for name in names:
                c["headers"].add(str(name).lower(), times)
            for value in content_types:
                c["content_types"].add(str(value).split(";")[0].strip().lower(), times)
            sdk_name, sdk_version = split_sdk(sdk)
            c["by_sdk"].add(f"{sdk_name} {sdk_version}" if sdk_version else sdk_name, times)
            for kind in kinds:
                c["items_by_type"].add(kind, times)
        self.shapes.clear()

    def _sizes(self, items: list[dict[str, Any]]) -> None:
        if len(items) == 1:  # the common case, as the loop below counts it
            kind = str(items[0].get("type") or "-")
            size = items[0].get("size") or 0
            self.item_count += 1
            _bounded(self.item_sizes, kind, MAX_SIZED_TYPES, Reservoir).add(size)
            rejected = False
            if kind in EVENT_LIKE and size > MAX_EVENT_SIZE:
                self.over_limit[kind] += 1
                rejected = True
            limit = ITEM_LIMITS.get(kind)
            if limit is not None:
                if size > limit[0]:
                    self.over_limit[kind] += 1
                    rejected = True
                rejected = rejected or limit[1] < 1
            if rejected:
                self.counters["would_be_rejected"].add(kind)
            return
        totals: Counter[str] = Counter()
        counts: Counter[str] = Counter()
        event_like = 0
        oversized: set[str] = set()
        for item in items:
            kind = str(item.get("type") or "-")
            size = item.get("size") or 0
            self.item_count += 1
            _bounded(self.item_sizes, kind, MAX_SIZED_TYPES, Reservoir).add(size)
            totals[kind] += size
            counts[kind] += 1
            if kind in EVENT_LIKE:
                event_like += 1
                if size > MAX_EVENT_SIZE:
                    self.over_limit[kind] += 1
                    oversized.add(kind)
        rejected = {kind for kind, (size, count) in ITEM_LIMITS.items() if totals[kind] > size or counts[kind] > count}
        rejected |= oversized
        if event_like > 1:
            rejected.add("multiple event-like items")
        for kind in rejected:
            self.counters["would_be_rejected"].add(kind)
        for kind, (size, _) in ITEM_LIMITS.items():
            if totals[kind] > size:
                self.over_limit[kind] += 1

    def _cron(self, data: Mapping[str, Any]) -> None:
        query = dict(parse_qsl(data.get("query") or ""))
        parts = [part for part in str(data.get("path") or "").split("/") if part]
        slug = parts[parts.index("cron") + 1] if "cron" in parts[:-1] else "-"
        body: Any = None
        if data.get("body") and data.get("body_decoded", True):
            try:
                body = orjson.loads(bodies.readable(data))
            except orjson.JSONDecodeError:
                body = None
        status = (body.get("status") if isinstance(body, dict) else None) or query.get("status") or "-"
        self._check_in(slug, status)

    def _check_in(self, slug: Any, status: Any) -> None:
        _bounded(self.check_ins, str(slug), MAX_MONITORS, lambda: Capped(100)).add(status)

    def _payloads(self, data: Mapping[str, Any], items: list[dict[str, Any]], sdk_name: str) -> None:
        for payload, kind in grouping.events_of(data, JSON_ITEM_TYPES):  # (skips records with none unparsed)
            self._payload(payload, kind, sdk_name, data)

    def _payload(self, payload: dict[str, Any], kind: str, sdk_name: str, data: Mapping[str, Any]) -> None:
        key = (kind, sdk_name)
        coverage = self.coverage.get(key)
        if coverage is None:
            sdks = self.sdks_per_type.get(kind, 0)
            if sdks >= MAX_SDKS:
                key = (kind, OTHER)
                coverage = self.coverage.get(key)
            else:
                self.sdks_per_type[kind] = sdks + 1
            if coverage is None:
                coverage = self.coverage[key] = _FieldCoverage(self.walker)
        if self.one_walk:
            # one walk: field coverage and personal data
            coverage.add(payload, self.scanner.root(kind))
            self.pii_payloads += 1
            if self.walker.found:
                pending = self.pii_pending
                for path, found in reversed(self.walker.found):  # in the order pii.scan gives them
                    key = (kind, path, found)
                    pending[key] = pending.get(key, 0) + 1
                if len(pending) >= _MAX_PENDING:
                    self._count_pii()
        else:
            coverage.add(payload)
            if self.scan_pii:
                self._pii(payload, kind)
        if kind in _EVENTISH:
            platform = payload.get("platform")
            key = ("by_platform", platform if isinstance(platform, str) else None)
            tally = self.tally
            tally[key] = tally.get(key, 0) + 1
            self._release(payload)
            if len(tally) >= _MAX_PENDING:
                self._count_tally()
            self._sourcemaps(payload)
        if kind == "event":
            self.highlights.add(payload)
            self.grouper.add(payload, data)
        elif kind == "transaction":
            self.transactions.add(payload, data.get("received_at") or "")
            for span in as_list(payload.get("spans"), self.remarks, kind, "spans"):
                if isinstance(span, dict):
                    self._span(span.get("op"), duration_ms(span))
        elif kind == "span":
            spans = payload.get("items")
            for span in as_list(spans, self.remarks, kind, "items") if spans is not None else [payload]:
                if isinstance(span, dict):
                    self._span(_span_op(span), _span_v2_duration(span))
        elif kind == "session":
            self.session_updates += 1
            self.session_status.add(payload.get("status") or "ok")
        elif kind == "sessions":
            for aggregate in as_list(payload.get("aggregates"), self.remarks, kind, "aggregates"):
                if isinstance(aggregate, dict):
                    for name in ("exited", "errored", "abnormal", "crashed"):
                        value = aggregate.get(name)
                        if isinstance(value, int):
                            self.aggregates[name] += value
        elif kind == "check_in":
            self._check_in(payload.get("monitor_slug") or "-", payload.get("status") or "-")
        elif kind == "client_report":
            self.client_reports += 1
            for dropped in as_list(payload.get("discarded_events"), self.remarks, kind, "discarded_events"):
                if isinstance(dropped, dict) and isinstance(dropped.get("quantity"), int):
                    self.dropped.add(
                        f"{dropped.get('reason') or '-'}\x00{dropped.get('category') or '-'}", dropped["quantity"]
                    )

    def _span(self, op: Any, duration: float | None) -> None:
        self.span_count += 1
        op = op if isinstance(op, str) and op else "-"
        reservoir = _bounded(self.span_ops, op, MAX_SPAN_OPS, lambda: Reservoir(1000))
        if duration is not None:
            reservoir.add(duration)
        else:
            reservoir.count += 1

    def _pii(self, payload: Any, kind: str) -> None:
        self.pii_payloads += 1
        rules: dict[str, str] | None = None
        if self.pii_engine == pii.RELAY_ENGINE and kind in pii.RELAY_ITEM_TYPES:
            try:
                rules = pii.relay_rules(payload)
            except ImportError:
                raise
            except Exception:
                self.relay_failures += 1
        flagged: set[str] = set()
        for finding in pii.scan(payload, kind, self.scanner):
            if rules is not None:
                relay_rule = rules.get(finding.path)
                if (relay_rule is None) != (finding.scrubbed_by is None):
                    self.disagreements.add(
                        "\x00".join((kind, finding.path, finding.scrubbed_by or "kept", relay_rule or "kept"))
                    )
                flagged.add(finding.path)
                finding = pii.Finding(finding.path, finding.kind, finding.example, relay_rule)
            self._pii_row(kind, finding.path, finding.kind, finding.example, finding.scrubbed_by)
        for path, rule in (rules or {}).items():
            if path not in flagged:
                self.relay_only.add(f"{kind}\x00{path}\x00{rule}")

    def _count_pii(self) -> None:
        """Add the personal data found so far (per path and value, in the order met) to the rows."""
        pending, self.pii_pending = self.pii_pending, {}
        for (item_type, path, found), times in pending.items():
            for name, example, rule in found:
                self._pii_row(item_type, path, name, example, rule, times)

    def _count_tally(self) -> None:
        """Add the keys tallied so far, in the order first met, to their counters."""
        tally, self.tally = self.tally, {}
        counters = {"by_platform": self.counters["by_platform"], "releases": self.releases}
        for (name, key), times in tally.items():
            counters[name].add(key, times)

    def _pii_row(self, item_type: str, path: str, kind: str, example: str, rule: str | None, times: int = 1) -> None:
        key = (item_type, path, kind)
        row = self.pii_rows.get(key)
        if row is None:
            if len(self.pii_rows) >= MAX_PII_ROWS:
                self.pii_truncated = True
                return
            row = self.pii_rows[key] = _PiiRow()
        row.count += times
        row.scrubbed[rule or ""] += times
        if len(row.examples) < MAX_EXAMPLES and example not in row.examples:
            row.examples.append(example)

    def _release(self, event: Mapping[str, Any]) -> None:
        self.events += 1
        release = event.get("release")
        if isinstance(release, str) and release:
            self.events_with_release += 1
            tally = self.tally
            key = ("releases", release)
            tally[key] = tally.get(key, 0) + 1
        if event.get("dist"):
            self.events_with_dist += 1

    def _sourcemaps(self, event: Mapping[str, Any]) -> None:
        debug_meta = event.get("debug_meta")
        if isinstance(debug_meta, dict):
            self.with_debug_meta += 1
            for image in as_list(debug_meta.get("images"), self.remarks, "event", "debug_meta.images"):
                if isinstance(image, dict):
                    self.image_types.add(image.get("type"))
                    self.debug_ids += bool(image.get("debug_id"))
        platform = event.get("platform")
        if not isinstance(platform, str) or platform not in _JS_PLATFORMS:
            return
        self.js_events += 1
        exceptions = grouping.exceptions_of(event)
        frames = [f for x in exceptions for f in grouping.frames_of(x)] or grouping.event_frames(event)
        for frame in frames:
            self.js_frames += 1
            self.minified += _looks_minified(frame)

    # ------------------------------------------------------------ the result

    def build(self, sections: Iterable[str] = SECTIONS) -> Report:
        wanted = [name for name in SECTIONS if name in set(sections)]
        self._count_pii()
        self.walker.flush()
        self._count_tally()
        self._count_minute()
        self._count_shapes()
        groups = tuple(self.grouper.groups())
        transactions = tuple(self.transactions.groups())
        makers = {
            "traffic": self._traffic,
            "fields": self._fields,
            "issues": lambda: self._issues(groups),
            "performance": lambda: self._performance(transactions),
            "health": self._health,
            "dropped": self._dropped,
            "pii": self._pii_section,
            "sourcemaps": self._sourcemaps_section,
            "server": self._server,
        }
        malformed = {**self.malformed.to_json(), "fields": _sorted(self.remarks)}
        return Report({name: makers[name]() for name in wanted}, groups, transactions, malformed=malformed)

    def _duration(self) -> float:
        if not self.first or not self.last:
            return 0.0
        return (parse_time(self.last) - parse_time(self.first)).total_seconds()

    def _traffic(self) -> Json:
        c = self.counters
        duration = self._duration()
        minutes = c["per_minute"]
        sizes = {}
        for kind, reservoir in sorted(self.item_sizes.items()):
            figures = reservoir.to_json()
            limit = _HEADER_LIMITS.get(kind)
            sizes[kind] = {
                "count": figures["count"],
                "p50": figures["p50"],
                "p95": figures["p95"],
                "max": figures["max"],
                "limit": limit[0] if limit else None,
                "over_limit": self.over_limit[kind],
            }
        return {
            "requests": self.requests,
            "envelopes": self.envelopes,
            "items": self.item_count,
            "accepted": self.accepted,
            "refused": self.refused,
            "first": self.first or None,
            "last": self.last or None,
            "duration_s": _num(duration),
            **{
                name: _sorted(c[name])
                for name in ("items_by_type", "by_endpoint", "by_project", "by_sdk", "by_platform", "by_status")
            },
            "per_minute": dict(sorted(minutes.items())),
            "peak_minutes": [[minute, n] for minute, n in sorted(minutes.items(), key=lambda kv: (-kv[1], kv[0]))[:5]],
            "busiest_second": {"second": self.busiest[0] or None, "requests": self.busiest[1]},
            "mean_per_minute": _num(self.requests / max(len(minutes), 1)),
            "sizes": sizes,
            "wire": self.wire.to_json(),
            "decoded": self.decoded.to_json(),
            "would_be_rejected": _sorted(c["would_be_rejected"]),
            "encodings": _sorted(c["encodings"]),
            "auth_forms": _sorted(c["auth_forms"]),
            "truncated": sorted(name for name, counter in c.items() if counter.truncated),
        }

    def _fields(self) -> Json:
        types = [coverage.to_json(kind, sdk) for (kind, sdk), coverage in sorted(self.coverage.items())]
        return {"types": types, "highlights": self.highlights.to_json()}

    def _issues(self, groups: tuple[Group, ...]) -> Json:
        top = []
        for group in groups[: self.top_groups]:
            entry = group.to_dict()
            entry["event_ids"] = entry["event_ids"][:5]
            entry["record_ids"] = entry["record_ids"][:5]
            top.append(entry)
        return {"groups": len(groups), "events": sum(g.count for g in groups), "top": top}

    def _performance(self, transactions: tuple[TransactionGroup, ...]) -> Json:
        ops = []
        for op, reservoir in self.span_ops.items():
            figures = reservoir.to_json()
            ops.append({"op": op, "count": reservoir.count, "p50_ms": figures["p50"], "p95_ms": figures["p95"]})
        ops.sort(key=lambda row: (-row["count"], row["op"]))
        return {
            "transactions": sum(t.count for t in transactions),
            "spans": self.span_count,
            "by_transaction": [t.to_dict() for t in transactions],
            "span_ops": ops,
        }

    def _health(self) -> Json:
        statuses = self.session_status
        ended = sum(statuses[s] for s in _ENDED)
        ended_aggregates = sum(self.aggregates.values())
        crashed = statuses["crashed"] + statuses["unhandled"] + self.aggregates["crashed"]
        total = ended + ended_aggregates
        return {
            "session_updates": self.session_updates,
            "sessions_by_status": _sorted(statuses),
            "aggregates": dict(sorted(self.aggregates.items())),
            "ended_sessions": total,
            "crash_free": round(1 - crashed / total, 4) if total else None,
            "check_ins": [
                {"monitor": slug, "count": sum(counter.values()), "statuses": _sorted(counter)}
                for slug, counter in sorted(self.check_ins.items())
            ],
        }

    def _dropped(self) -> Json:
        by_reason: Counter[str] = Counter()
        by_category: Counter[str] = Counter()
        rows = []
        for key, quantity in sorted(self.dropped.items(), key=lambda kv: (-kv[1], kv[0])):
            reason, _, category = key.partition("\x00")
            by_reason[reason] += quantity
            by_category[category] += quantity
            rows.append({"reason": reason, "category": category, "quantity": quantity})
        return {
            "reports": self.client_reports,
            "total": sum(by_reason.values()),
            "by_reason": _sorted(by_reason),
            "by_category": _sorted(by_category),
            "rows": rows,
        }

    def _pii_section(self) -> Json:
        rows = []
        kinds: Counter[str] = Counter()
        kept: Counter[str] = Counter()
        for (item_type, path, kind), row in self.pii_rows.items():
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
        disagreements = []
        for key, count in sorted(self.disagreements.items()):
            item_type, path, builtin, relay = key.split("\x00")
            disagreements.append(
                {"item_type": item_type, "path": path, "builtin": builtin, "relay": relay, "count": count}
            )
        relay_only = []
        for key, count in sorted(self.relay_only.items()):
            item_type, path, rule = key.split("\x00")
            relay_only.append({"item_type": item_type, "path": path, "rule": rule, "count": count})
        return {
            "engine": self.pii_engine,
            "payloads": self.pii_payloads,
            "disagreements": disagreements,
            "relay_only": relay_only,
            "relay_failures": self.relay_failures,
            "scanned": self.scan_pii,
            "kinds": {kind: kinds[kind] for kind in pii.KINDS if kinds[kind]},
            "kept_by_sentry": {kind: kept[kind] for kind in pii.KINDS if kept[kind]},
            "fields": rows,
            "truncated": self.pii_truncated,
        }

    def _sourcemaps_section(self) -> Json:
        return {
            "js_events": self.js_events,
            "js_frames": self.js_frames,
            "minified_frames": self.minified,
            "minified_share": _share(self.minified, self.js_frames),
            "with_debug_meta": self.with_debug_meta,
            "debug_ids": self.debug_ids,
            "image_types": _sorted(self.image_types),
            "events": self.events,
            "events_with_release": self.events_with_release,
            "events_with_dist": self.events_with_dist,
            "releases": _sorted(self.releases),
        }

    def _server(self) -> Json:
        c = self.counters
        duration = self._duration()
        per_day = 86400 / duration if duration >= 1 else None
        return {
            "endpoints": _sorted(c["by_endpoint"]),
            "methods": _sorted(c["methods"]),
            "item_types": _sorted(c["items_by_type"]),
            "encodings": _sorted(c["encodings"]),
            "auth_forms": _sorted(c["auth_forms"]),
            "content_types": _sorted(c["content_types"]),
            "headers": _sorted(c["headers"]),
            "sdks": _sorted(c["by_sdk"]),
            "requests_per_day": round(self.requests * per_day) if per_day else None,
            "bytes_per_day": round(self.wire.total * per_day) if per_day else None,
            "decoded_bytes_per_day": round(self.decoded.total * per_day) if per_day else None,
        }


def _bounded(table: dict[str, Any], key: str, limit: int, make: Any) -> Any:
    """``table[key]``, made with ``make()`` if new; beyond ``limit`` keys, ``table[OTHER]``."""
    value = table.get(key)
    if value is None:
        if len(table) >= limit:
            key = OTHER
            value = table.get(key)
        if value is None:
            value = table[key] = make()
    return value


def _span_op(span: Mapping[str, Any]) -> Any:
    if span.get("op"):
        return span["op"]
    attributes = span.get("attributes")
    op = attributes.get("sentry.op") if isinstance(attributes, dict) else None
    return op.get("value") if isinstance(op, dict) else op


def _span_v2_duration(span: Mapping[str, Any]) -> float | None:
    if "end_timestamp" in span:
        return duration_ms({"start_timestamp": span.get("start_timestamp"), "timestamp": span.get("end_timestamp")})
    return duration_ms(span)


def _looks_minified(frame: Mapping[str, Any]) -> bool:
    """A JavaScript frame that has not been through a source map: a minified or bundled file,
    or a position deep into a very long first line."""
    name = frame.get("abs_path") or frame.get("filename") or ""
    if isinstance(name, str) and _MINIFIED_FILE.search(name):
        return True
    lineno, colno = frame.get("lineno"), frame.get("colno")
    if isinstance(lineno, int) and isinstance(colno, int) and lineno <= 2 and colno > 300:
        return True
    context = frame.get("context_line")
    return isinstance(context, str) and len(context) > 500


def build_report(
    records: Iterable[Record | Mapping[str, Any]],
    sections: Iterable[str] = SECTIONS,
    *,
    top_groups: int = TOP_GROUPS,
    pii_engine: str = pii.ENGINE,
    malformed: Malformed | None = None,
) -> Report:
    """The :class:`Report` of ``records`` (one pass), with the ``sections`` named. A record
    the builder fails on is counted in ``malformed`` (and named to its ``on_warning``), and
    the report goes on.

    ``pii_engine="relay"`` asks Sentry's own scrubber (the ``sentry-relay`` package) what its
    default scrubbing removes from events and transactions, instead of the built-in rules
    (other items keep the built-in answer); the section then lists where the two disagree."""
    wanted = set(sections)
    unknown = wanted - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown report sections: {', '.join(sorted(unknown))}")
    builder = ReportBuilder(top_groups=top_groups, scan_pii="pii" in wanted, pii_engine=pii_engine, malformed=malformed)
    for record in records:
        builder.add(record)
    return builder.build(wanted)
