"""Section 1, ``traffic``: requests, envelopes and items by type, endpoint, project, SDK and
platform; the rate per minute with its peaks and the busiest second; sizes per item type
against Sentry's limits; encodings and auth forms. Refused requests are counted too.

The :class:`Traffic` aggregator also holds the request counts the ``server`` section reads.
Request shapes (status, endpoint, project, method, encoding, auth form, header names, content
types, SDK, item types) are counted per distinct shape and added to the counters in the order
first met, a minute's requests when the minute ends, platforms per batch: the same figures as
counting each request, for less work.

Merging is exact (the busiest second too: the runs of one second at the join become one).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sentry_mirror.core.describe import split_sdk
from sentry_mirror.core.envelope import ENVELOPE_ENDPOINTS
from sentry_mirror.core.limits import EVENT_LIKE, ITEM_LIMITS, MAX_EVENT_SIZE
from sentry_mirror.core.record import parse_time
from sentry_mirror.core.report.bounded import Capped, Json, Reservoir, bounded, by_count, merge_tables, num
from sentry_mirror.core.report.view import EVENTISH, RecordView

#: The first MAX_SIZED_TYPES item types get size figures, the rest are counted together under OTHER.
MAX_SIZED_TYPES = 100
#: Distinct request shapes, and platforms, counted before they go to the counters.
MAX_SHAPES = 4096
MAX_PENDING = 4096
_HEADER_LIMITS = {**dict.fromkeys(EVENT_LIKE, (MAX_EVENT_SIZE, 1)), **ITEM_LIMITS}
_COUNTERS = (
    "items_by_type", "by_endpoint", "by_project", "by_sdk", "by_platform", "by_status", "per_minute", "encodings",
    "auth_forms", "methods", "content_types", "headers", "would_be_rejected",
)  # fmt: skip


def counts_as_envelope(endpoint: str, items: int) -> bool:
    """Whether a request of ``items`` items counts as an envelope: one to the envelope or
    tunnel endpoint, or an envelope of more than one item POSTed to /store/."""
    return endpoint in ENVELOPE_ENDPOINTS or (endpoint == "store" and items > 1)


class Traffic:
    """The ``traffic`` aggregator (see the module docstring)."""

    reads = None  # every record

    def __init__(self) -> None:
        self.requests = self.envelopes = self.item_count = self.accepted = self.refused = 0
        self.first = self.last = ""
        self.counters: dict[str, Capped] = {name: Capped() for name in _COUNTERS}
        self.item_sizes: dict[str, Reservoir] = {}
        self.over_limit: Counter[str] = Counter()
        self.wire = Reservoir()
        self.decoded = Reservoir()
        self.second = self.minute = ""
        self.second_count = self.minute_count = 0
        self.busiest = ("", 0)
        # runs of requests in one second (in the order read): how many, the first, the
        # busiest of the others (the first met of the longest), for an exact merge
        self.runs = 0
        self.lead = self.after = ("", 0)
        self.shapes: dict[tuple[Any, ...], list[int]] = {}
        self.content_type_at: dict[tuple[Any, ...], tuple[int, ...]] = {}  # header names: where Content-Type is
        self.platforms: dict[Any, int] = {}

    # ------------------------------------------------------------ per record

    def add(self, view: RecordView) -> None:
        self.requests += 1
        if view.received:
            self._time(view.received)
        if view.accepted:
            self.accepted += 1
        else:
            self.refused += 1
        data = view.data
        self.wire.add(data.get("wire_size") or 0)
        self.decoded.add(data.get("body_size") or 0)
        self._shape(view)
        items, endpoint = view.items, view.endpoint
        if counts_as_envelope(endpoint, len(items)):
            self.envelopes += 1
        self._sizes(items)
        for payload, kind in view.payloads:
            if kind in EVENTISH:
                platform = payload.get("platform")
                key = platform if isinstance(platform, str) else None
                platforms = self.platforms
                platforms[key] = platforms.get(key, 0) + 1
                if len(platforms) >= MAX_PENDING:
                    self._count_platforms()

    def _time(self, received: str) -> None:
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
            self.runs += 1
        count = self.second_count
        if self.runs == 1:
            self.lead = (second, count)
        elif count > self.after[1]:
            self.after = (second, count)
        if count > self.busiest[1]:
            self.busiest = (second, count)

    def _shape(self, view: RecordView) -> None:
        data, auth = view.data, view.auth
        headers = data.get("headers") or ()
        names = tuple([pair[0] for pair in headers])
        where = self.content_type_at.get(names)
        if where is None:
            where = tuple(n for n, name in enumerate(names) if str(name).lower() == "content-type")
            if len(self.content_type_at) < MAX_SHAPES:
                self.content_type_at[names] = where
        content_types = tuple([headers[n][1] for n in where]) if where else ()
        # counted per distinct shape, added to the counters in the order first seen (_count_shapes)
        shape = (
            view.status, view.endpoint, data.get("project_id"), data.get("method"),
            data.get("content_encoding") or "identity", auth.get("form") if isinstance(auth, dict) else None, names,
            content_types, view.sdk, tuple([str(item.get("type") or "-") for item in view.items]),
        )  # fmt: skip
        seen = self.shapes.get(shape)  # (a list: the shape is hashed once)
        if seen is None:
            if len(self.shapes) >= MAX_SHAPES:
                self._count_shapes()
            seen = self.shapes[shape] = [0]
        seen[0] += 1

    def _sizes(self, items: list[dict[str, Any]]) -> None:
        if len(items) == 1:  # the common case, as the loop below counts it
            kind = str(items[0].get("type") or "-")
            size = items[0].get("size") or 0
            self.item_count += 1
            bounded(self.item_sizes, kind, MAX_SIZED_TYPES, Reservoir).add(size)
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
        self._many_sizes(items)

    def _many_sizes(self, items: list[dict[str, Any]]) -> None:
        totals: Counter[str] = Counter()
        counts: Counter[str] = Counter()
        event_like = 0
        oversized: set[str] = set()
        for item in items:
            kind = str(item.get("type") or "-")
            size = item.get("size") or 0
            self.item_count += 1
            bounded(self.item_sizes, kind, MAX_SIZED_TYPES, Reservoir).add(size)
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

    # ------------------------------------------------------------ counts kept back

    def flush(self) -> None:
        """Add the counts kept back (minute, shapes, platforms) to the counters."""
        self._count_minute()
        self._count_shapes()
        self._count_platforms()

    def _count_minute(self) -> None:
        if self.minute_count:
            self.counters["per_minute"].add(self.minute, self.minute_count)
            self.minute_count = 0

    def _count_platforms(self) -> None:
        platforms, self.platforms = self.platforms, {}
        for key, times in platforms.items():
            self.counters["by_platform"].add(key, times)

    def _count_shapes(self) -> None:
        """Add the request shapes counted so far to the counters."""
        c = self.counters
        for shape, (times,) in self.shapes.items():
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

    # ------------------------------------------------------------ merge and result

    def merge(self, other: Traffic) -> None:
        self.flush()
        other.flush()
        for name in ("requests", "envelopes", "item_count", "accepted", "refused"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.first = min(filter(None, (self.first, other.first)), default="")
        self.last = max(self.last, other.last)
        for name, counter in self.counters.items():
            counter.merge(other.counters[name])
        merge_tables(self.item_sizes, other.item_sizes, MAX_SIZED_TYPES, Reservoir, Reservoir.merge)
        self.over_limit.update(other.over_limit)
        self.wire.merge(other.wire)
        self.decoded.merge(other.decoded)
        self._merge_seconds(other)

    def _merge_seconds(self, other: Traffic) -> None:
        """The runs of one second of both, as one pass over both would see them (a second
        read at the end of this one and the start of ``other`` is one run)."""
        if not other.runs:
            return
        if not self.runs:
            self.runs, self.lead, self.after = other.runs, other.lead, other.after
            self.second, self.second_count, self.busiest = other.second, other.second_count, other.busiest
            return
        if self.second != other.lead[0]:
            runs = [self.after, other.lead, other.after]
            self.runs += other.runs
            self.second, self.second_count = other.second, other.second_count
        else:  # one run across the join
            joined = (self.second, self.second_count + other.lead[1])
            if self.runs == 1:
                self.lead, runs = joined, [other.after]
            else:
                runs = [self.after, joined, other.after]
            self.runs += other.runs - 1
            self.second, self.second_count = (other.second, other.second_count) if other.runs > 1 else joined
        self.after = ("", 0)
        for run in runs:
            if run[1] > self.after[1]:
                self.after = run
        self.busiest = self.after if self.after[1] > self.lead[1] else self.lead

    def duration(self) -> float:
        """Seconds from the first request to the last."""
        if not self.first or not self.last:
            return 0.0
        return (parse_time(self.last) - parse_time(self.first)).total_seconds()

    def result(self) -> Json:
        self.flush()
        c = self.counters
        minutes = c["per_minute"]
        return {
            "requests": self.requests,
            "envelopes": self.envelopes,
            "items": self.item_count,
            "accepted": self.accepted,
            "refused": self.refused,
            "first": self.first or None,
            "last": self.last or None,
            "duration_s": num(self.duration()),
            **{
                name: by_count(c[name])
                for name in ("items_by_type", "by_endpoint", "by_project", "by_sdk", "by_platform", "by_status")
            },
            "per_minute": dict(sorted(minutes.items())),
            "peak_minutes": [[minute, n] for minute, n in sorted(minutes.items(), key=lambda kv: (-kv[1], kv[0]))[:5]],
            "busiest_second": {"second": self.busiest[0] or None, "requests": self.busiest[1]},
            "mean_per_minute": num(self.requests / max(len(minutes), 1)),
            "sizes": self._size_figures(),
            "wire": self.wire.to_json(),
            "decoded": self.decoded.to_json(),
            "would_be_rejected": by_count(c["would_be_rejected"]),
            "encodings": by_count(c["encodings"]),
            "auth_forms": by_count(c["auth_forms"]),
            "truncated": sorted(name for name, counter in c.items() if counter.truncated),
        }

    def _size_figures(self) -> Json:
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
        return sizes
