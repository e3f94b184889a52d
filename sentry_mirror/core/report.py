"""The data-feasibility report: what the SDKs sent, in one pass over the records.

:func:`build_report` reads records once (each envelope is parsed once) and keeps bounded
aggregates only: counters capped at :data:`MAX_KEYS` distinct keys, reservoirs of
:data:`RESERVOIR_SIZE` values for percentiles (exact up to that many, a uniform sample
beyond), at most :data:`MAX_PATHS` field paths per item type and SDK and
:data:`MAX_DISTINCT` distinct values per path. The issues and the transactions come from
:mod:`sentry_mirror.core.grouping` (the same grouping as ``sentry-mirror group``).

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

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

import orjson

from sentry_mirror.core import grouping, pii
from sentry_mirror.core.describe import split_sdk
from sentry_mirror.core.grouping import Group, Sample, TransactionGroup, duration_ms, percentile
from sentry_mirror.core.ingest import _EVENT_LIKE, _ITEM_LIMITS, MAX_EVENT_SIZE
from sentry_mirror.core.record import Record, decode_bytes, parse_time

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
    **{kind: (MAX_EVENT_SIZE, 1) for kind in _EVENT_LIKE},
    **_ITEM_LIMITS,
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
        self.maximum = value if self.maximum is None else max(self.maximum, value)
        self.sample.add(value)

    def to_json(self) -> Json:
        ordered = sorted(self.sample.values)
        return {
            "count": self.count,
            "p50": _num(percentile(ordered, 0.5)) if ordered else None,
            "p95": _num(percentile(ordered, 0.95)) if ordered else None,
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
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    text = " ".join(text.split())
    return text if len(text) <= EXAMPLE_LENGTH else text[: EXAMPLE_LENGTH - 1] + "…"


# ---------------------------------------------------------------- field coverage


class _PathStats:
    __slots__ = ("distinct", "example", "items", "types")

    def __init__(self) -> None:
        self.items = 0
        self.types: dict[str, int] = {}
        self.distinct: set[int] = set()
        self.example: str | None = None


class _FieldCoverage:
    """Paths of one (item type, SDK): how many items carry each, with what values."""

    def __init__(self) -> None:
        self.items = 0
        self.paths: dict[str, _PathStats] = {}
        self.dropped = 0

    def add(self, payload: Any) -> None:
        self.items += 1
        seen: dict[str, Any] = {}
        _walk(payload, "", "", seen, 0)
        paths = self.paths
        types = _JSON_TYPES
        for path, value in seen.items():
            stats = paths.get(path)
            if stats is None:
                if len(paths) >= MAX_PATHS:
                    self.dropped += 1
                    continue
                stats = paths[path] = _PathStats()
            stats.items += 1
            kind = types.get(type(value), "object")
            stats.types[kind] = stats.types.get(kind, 0) + 1
            if kind != "object" and kind != "array":
                if len(stats.distinct) <= MAX_DISTINCT:
                    stats.distinct.add(hash((kind, value)))
                if stats.example is None:
                    stats.example = _example(value)

    def to_json(self, item_type: str, sdk: str) -> Json:
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


def _walk(value: Any, path: str, name: str, seen: dict[str, Any], depth: int) -> None:
    """Every path of ``value`` (at ``path``, whose last key is ``name``) into ``seen``, with
    the first value met at each path."""
    if path and path not in seen:
        seen[path] = value
    if depth > pii.MAX_DEPTH:
        return
    kind = type(value)
    if kind is dict:
        if name in _FOLDED_UNDER:
            # a map keyed by names (packages, variables): one path for all, typed by its first entry
            for inner in value.values():
                _walk(inner, f"{path}.*", "*", seen, depth + 1)
                break
            return
        prefix = f"{path}." if path else ""
        for key, inner in value.items():
            child = _key_name(key)
            _walk(inner, prefix + child, child, seen, depth + 1)
    elif kind is list:
        path += "[]"
        for inner in value:
            _walk(inner, path, name, seen, depth + 1)


@lru_cache(maxsize=8192)
def _key_name(key: Any) -> str:
    """An object key as a path segment: ids (hex, UUIDs, numbers) fold to ``*``."""
    key = str(key)
    return "*" if _ID_KEY.match(key) else key


# ---------------------------------------------------------------- event highlights

_PRESENT = {
    "exception": lambda e: bool(grouping.exceptions_of(e)),
    "stack frames": lambda e: (
        any(grouping.frames_of(x) for x in grouping.exceptions_of(e)) or bool(grouping.event_frames(e))
    ),
    "breadcrumbs": lambda e: bool(_breadcrumbs(e)),
    "user": lambda e: isinstance(e.get("user"), dict) and bool(e["user"]),
    "request": lambda e: isinstance(e.get("request"), dict) and bool(e["request"]),
    "tags": lambda e: bool(e.get("tags")),
    "contexts.os": lambda e: _context(e, "os"),
    "contexts.browser": lambda e: _context(e, "browser"),
    "contexts.runtime": lambda e: _context(e, "runtime"),
    "contexts.device": lambda e: _context(e, "device"),
    "contexts.trace": lambda e: _context(e, "trace"),
    "release": lambda e: bool(e.get("release")),
    "environment": lambda e: bool(e.get("environment")),
    "server_name": lambda e: bool(e.get("server_name")),
    "modules": lambda e: bool(e.get("modules")),
}


def _context(event: Mapping[str, Any], name: str) -> bool:
    contexts = event.get("contexts")
    return isinstance(contexts, dict) and isinstance(contexts.get(name), dict)


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
        self.present: Counter[str] = Counter()

    def add(self, event: Mapping[str, Any]) -> None:
        self.events += 1
        exceptions = grouping.exceptions_of(event)
        if exceptions:
            self.chain.add(len(exceptions))
        self.breadcrumbs.add(len(_breadcrumbs(event)))
        for name, test in _PRESENT.items():
            if test(event):
                self.present[name] += 1
        frames = [f for x in exceptions for f in grouping.frames_of(x)] or grouping.event_frames(event)
        for frame in frames:
            self.frames += 1
            self.with_context += bool(frame.get("context_line"))
            self.in_app += frame.get("in_app") is True
            self.with_vars += bool(frame.get("vars"))

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
            "present": {name: _share(self.present[name], self.events) for name in _PRESENT},
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

    def to_json(self) -> Json:
        return {"schema": SCHEMA, "version": SCHEMA_VERSION, "sections": list(self.sections), **self.sections}

    def section(self, name: str) -> Json:
        return self.sections.get(name, {})


@dataclass
class _PiiRow:
    count: int = 0
    examples: list[str] = field(default_factory=list)
    scrubbed: Counter[str] = field(default_factory=Counter)


class ReportBuilder:
    """Feed it record dicts with :meth:`add`, then :meth:`build` the :class:`Report`."""

    def __init__(self, *, top_groups: int = TOP_GROUPS, scan_pii: bool = True, pii_engine: str = pii.ENGINE) -> None:
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
        self.busiest = ("", 0)
        self.coverage: dict[tuple[str, str], _FieldCoverage] = {}
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
        self.pii_payloads = 0
        self.pii_truncated = False
        self.js_events = self.js_frames = self.minified = self.with_debug_meta = 0
        self.debug_ids = 0
        self.image_types = Capped()
        self.releases = Capped()
        self.events = self.events_with_release = self.events_with_dist = 0

    # ------------------------------------------------------------ per record

    def add(self, record: Record | Mapping[str, Any]) -> None:
        data = record.data if isinstance(record, Record) else record
        c = self.counters
        self.requests += 1
        received = data.get("received_at") or ""
        if received:
            self.first = received if not self.first or received < self.first else self.first
            self.last = max(self.last, received)
            c["per_minute"].add(received[:16])
            second = received[:19]
            if second == self.second:
                self.second_count += 1
            else:
                self.second, self.second_count = second, 1
            if self.second_count > self.busiest[1]:
                self.busiest = (second, self.second_count)
        status = (data.get("response") or {}).get("status") or 0
        c["by_status"].add(status)
        if 200 <= status < 300:
            self.accepted += 1
        else:
            self.refused += 1
        endpoint = data.get("endpoint") or "unknown"
        c["by_endpoint"].add(endpoint)
        c["by_project"].add(data.get("project_id"))
        c["methods"].add(data.get("method"))
        c["encodings"].add(data.get("content_encoding") or "identity")
        auth = data.get("auth") or {}
        c["auth_forms"].add(auth.get("form") if isinstance(auth, dict) else None)
        for name, value in data.get("headers") or ():
            c["headers"].add(str(name).lower())
            if str(name).lower() == "content-type":
                c["content_types"].add(str(value).split(";")[0].strip().lower())
        self.wire.add(data.get("wire_size") or 0)
        self.decoded.add(data.get("body_size") or 0)
        summary = data.get("summary") or {}
        sdk = summary.get("sdk") or (auth.get("sentry_client") if isinstance(auth, dict) else None)
        sdk_name, sdk_version = split_sdk(sdk)
        c["by_sdk"].add(f"{sdk_name} {sdk_version}" if sdk_version else sdk_name)
        items = [item for item in summary.get("items") or () if isinstance(item, dict)]
        if endpoint in ("envelope", "tunnel") or (items and endpoint == "store" and len(items) > 1):
            self.envelopes += 1
        self._sizes(items, status)
        if not 200 <= status < 300:
            return  # Sentry would not have stored it: no fields, issues, sessions … from it
        if endpoint == "cron":
            self._cron(data)
        self._payloads(data, items, sdk_name or "-")

    def _sizes(self, items: list[dict[str, Any]], status: int) -> None:
        totals: Counter[str] = Counter()
        counts: Counter[str] = Counter()
        event_like = 0
        oversized: set[str] = set()
        for item in items:
            kind = str(item.get("type") or "-")
            size = item.get("size") or 0
            self.item_count += 1
            self.counters["items_by_type"].add(kind)
            reservoir = self.item_sizes.get(kind)
            if reservoir is None and len(self.item_sizes) < MAX_KEYS:
                reservoir = self.item_sizes[kind] = Reservoir()
            if reservoir is not None:
                reservoir.add(size)
            totals[kind] += size
            counts[kind] += 1
            if kind in _EVENT_LIKE:
                event_like += 1
                if size > MAX_EVENT_SIZE:
                    self.over_limit[kind] += 1
                    oversized.add(kind)
        rejected = {kind for kind, (size, count) in _ITEM_LIMITS.items() if totals[kind] > size or counts[kind] > count}
        rejected |= oversized
        if event_like > 1:
            rejected.add("multiple event-like items")
        for kind in rejected:
            self.counters["would_be_rejected"].add(kind)
        for kind, (size, _) in _ITEM_LIMITS.items():
            if totals[kind] > size:
                self.over_limit[kind] += 1

    def _cron(self, data: Mapping[str, Any]) -> None:
        query = dict(parse_qsl(data.get("query") or ""))
        parts = [part for part in str(data.get("path") or "").split("/") if part]
        slug = parts[parts.index("cron") + 1] if "cron" in parts[:-1] else "-"
        body: Any = None
        if data.get("body") and data.get("body_decoded", True):
            try:
                body = orjson.loads(decode_bytes(data["body"], bool(data.get("body_base64"))))
            except orjson.JSONDecodeError:
                body = None
        status = (body.get("status") if isinstance(body, dict) else None) or query.get("status") or "-"
        self._check_in(slug, status)

    def _check_in(self, slug: Any, status: Any) -> None:
        monitor = self.check_ins.get(str(slug))
        if monitor is None:
            if len(self.check_ins) >= MAX_KEYS:
                return
            monitor = self.check_ins[str(slug)] = Capped(100)
        monitor.add(status)

    def _payloads(self, data: Mapping[str, Any], items: list[dict[str, Any]], sdk_name: str) -> None:
        if items and not any(item.get("type") in JSON_ITEM_TYPES for item in items) and data.get("endpoint") != "store":
            return
        for payload, kind in grouping.events_of(data, JSON_ITEM_TYPES):
            self._payload(payload, kind, sdk_name, data)

    def _payload(self, payload: dict[str, Any], kind: str, sdk_name: str, data: Mapping[str, Any]) -> None:
        key = (kind, sdk_name)
        coverage = self.coverage.get(key)
        if coverage is None:
            coverage = self.coverage[key] = _FieldCoverage()
        coverage.add(payload)
        if self.scan_pii:
            self._pii(payload, kind)
        if kind in _EVENTISH:
            platform = payload.get("platform")
            self.counters["by_platform"].add(platform if isinstance(platform, str) else None)
            self._release(payload)
            self._sourcemaps(payload)
        if kind == "event":
            self.highlights.add(payload)
            self.grouper.add(payload, data)
        elif kind == "transaction":
            self.transactions.add(payload, data.get("received_at") or "")
            for span in payload.get("spans") or ():
                if isinstance(span, dict):
                    self._span(span.get("op"), duration_ms(span))
        elif kind == "span":
            for span in payload.get("items") or [payload]:
                if isinstance(span, dict):
                    self._span(_span_op(span), _span_v2_duration(span))
        elif kind == "session":
            self.session_updates += 1
            self.session_status.add(payload.get("status") or "ok")
        elif kind == "sessions":
            for aggregate in payload.get("aggregates") or ():
                if isinstance(aggregate, dict):
                    for name in ("exited", "errored", "abnormal", "crashed"):
                        value = aggregate.get(name)
                        if isinstance(value, int):
                            self.aggregates[name] += value
        elif kind == "check_in":
            self._check_in(payload.get("monitor_slug") or "-", payload.get("status") or "-")
        elif kind == "client_report":
            self.client_reports += 1
            for dropped in payload.get("discarded_events") or ():
                if isinstance(dropped, dict) and isinstance(dropped.get("quantity"), int):
                    self.dropped.add(
                        f"{dropped.get('reason') or '-'}\x00{dropped.get('category') or '-'}", dropped["quantity"]
                    )

    def _span(self, op: Any, duration: float | None) -> None:
        self.span_count += 1
        op = op if isinstance(op, str) and op else "-"
        reservoir = self.span_ops.get(op)
        if reservoir is None:
            if len(self.span_ops) >= MAX_KEYS:
                return
            reservoir = self.span_ops[op] = Reservoir(1000)
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
            except Exception:  # noqa: BLE001 - Sentry's scrubber refusing one event must not stop the report
                self.relay_failures += 1
        flagged: set[str] = set()
        for finding in pii.scan(payload, kind):
            if rules is not None:
                relay_rule = rules.get(finding.path)
                if (relay_rule is None) != (finding.scrubbed_by is None):
                    self.disagreements.add(
                        "\x00".join((kind, finding.path, finding.scrubbed_by or "kept", relay_rule or "kept"))
                    )
                flagged.add(finding.path)
                finding = pii.Finding(finding.path, finding.kind, finding.example, relay_rule)
            key = (kind, finding.path, finding.kind)
            row = self.pii_rows.get(key)
            if row is None:
                if len(self.pii_rows) >= MAX_PII_ROWS:
                    self.pii_truncated = True
                    continue
                row = self.pii_rows[key] = _PiiRow()
            row.count += 1
            row.scrubbed[finding.scrubbed_by or ""] += 1
            if len(row.examples) < MAX_EXAMPLES and finding.example not in row.examples:
                row.examples.append(finding.example)
        for path, rule in (rules or {}).items():
            if path not in flagged:
                self.relay_only.add(f"{kind}\x00{path}\x00{rule}")

    def _release(self, event: Mapping[str, Any]) -> None:
        self.events += 1
        release = event.get("release")
        if isinstance(release, str) and release:
            self.events_with_release += 1
            self.releases.add(release)
        if event.get("dist"):
            self.events_with_dist += 1

    def _sourcemaps(self, event: Mapping[str, Any]) -> None:
        debug_meta = event.get("debug_meta")
        if isinstance(debug_meta, dict):
            self.with_debug_meta += 1
            for image in debug_meta.get("images") or ():
                if isinstance(image, dict):
                    self.image_types.add(image.get("type"))
                    self.debug_ids += bool(image.get("debug_id"))
        if event.get("platform") not in _JS_PLATFORMS:
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
        return Report({name: makers[name]() for name in wanted}, groups, transactions)

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
) -> Report:
    """The :class:`Report` of ``records`` (one pass), with the ``sections`` named.

    ``pii_engine="relay"`` asks Sentry's own scrubber (the ``sentry-relay`` package) what its
    default scrubbing removes from events and transactions, instead of the built-in rules
    (other items keep the built-in answer); the section then lists where the two disagree."""
    wanted = set(sections)
    unknown = wanted - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown report sections: {', '.join(sorted(unknown))}")
    builder = ReportBuilder(top_groups=top_groups, scan_pii="pii" in wanted, pii_engine=pii_engine)
    for record in records:
        builder.add(record)
    return builder.build(wanted)
