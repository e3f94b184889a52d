"""The replay plan: which recorded requests are sent, in what order and when (pure).

:func:`make_plan` selects what can be sent (no CORS preflights, no truncated bodies, no web
API requests or uploads: they are not ingestion requests),
counts it and finds how long the replay takes; :meth:`Plan.timeline` gives each request
with its send offset, streaming (:func:`timeline`: the recorded gaps scaled by
:class:`Pacing`); :func:`prepare_all` rewrites each as it would be sent
(:func:`sentry_mirror.core.replay.rewrite.rewrite_request`). Records stream: a plan holds a bounded
number of them (:data:`READ_AHEAD`) whatever the snapshot's size. The sending is
:func:`sentry_mirror.io.replay.replay`.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sentry_mirror.core.record import parse_time
from sentry_mirror.core.replay.fresh_ids import IdMap
from sentry_mirror.core.replay.rewrite import NotReplayable, Options, Prepared, Target, rewrite_request

#: Requests not worth replaying: CORS preflights carry no data.
SKIPPED_METHODS = frozenset({"OPTIONS"})
#: Records held to put them in receive order: a listener writes a record when it has
#: answered, so its file is in receive order only up to requests that overlapped.
READ_AHEAD = 256
#: Keys of the skipped counter for records that are not ingestion requests: the web API calls
#: sentry-cli made (``api_*`` endpoints) and the files their assemble calls put together
#: (``upload`` records, re-uploaded by ``--uploads`` through the target's own chunk protocol).
SKIPPED_WEB_API = "web API request"
SKIPPED_UPLOAD = "upload"

Source = Callable[[], Iterable[Mapping[str, Any]]]


@dataclass(frozen=True, slots=True)
class Pacing:
    """``speed``: 1 keeps the recorded gaps, 10 is ten times faster, None sends as fast as
    allowed. ``max_gap`` caps each (scaled) gap, ``rate`` caps requests per second,
    ``concurrency`` caps requests in flight."""

    speed: float | None = None
    max_gap: float | None = None
    rate: float | None = None
    concurrency: int = 16


def timestamp_shift(latest: str, start: datetime, duration: float) -> float:
    """Seconds to add to every timestamp so that the last request's receive time (``latest``)
    lands at the scheduled end of the replay (``start`` with ``--speed max``). Timestamps keep
    their spacing, and none lands after the moment its request is sent (at ``--speed`` 1 or more)."""
    return (start + timedelta(seconds=duration) - _moment(latest)).total_seconds()


def _sendable(records: Iterable[Mapping[str, Any]], skipped: Counter[str] | None) -> Iterator[Mapping[str, Any]]:
    """``records`` without what is not worth or not possible to send (counted in ``skipped``)."""
    for data in records:
        endpoint = data.get("endpoint") or ""
        if endpoint.startswith("api_") or endpoint == "upload":
            if skipped is not None:
                skipped[SKIPPED_UPLOAD if endpoint == "upload" else SKIPPED_WEB_API] += 1
            continue
        if data["method"] in SKIPPED_METHODS:
            if skipped is not None:
                skipped["CORS preflight (OPTIONS)"] += 1
            continue
        if data.get("body_truncated"):
            if skipped is not None:
                skipped["body truncated when recorded"] += 1
            continue
        yield data


def in_time_order(records: Iterable[Mapping[str, Any]], window: int = READ_AHEAD) -> Iterator[Mapping[str, Any]]:
    """``records`` by ``received_at``, holding at most ``window`` of them: exact when no record
    comes more than ``window`` places after one received later (a later one is then sent
    as soon as it is read, with no gap before it)."""
    heap: list[tuple[str, int, Mapping[str, Any]]] = []
    for n, data in enumerate(records):
        heapq.heappush(heap, (data["received_at"], n, data))
        if len(heap) > window:
            yield heapq.heappop(heap)[2]
    while heap:
        yield heapq.heappop(heap)[2]


def _moment(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)  # the record's own format, ten times faster than strptime
    except ValueError:
        return parse_time(text)


def timeline(
    records: Iterable[Mapping[str, Any]], pacing: Pacing, window: int = READ_AHEAD
) -> Iterator[tuple[Mapping[str, Any], float]]:
    """Each record in receive order with its send offset in seconds from the start, streaming:
    the recorded gaps divided by the speed (none at ``--speed max``), each at most
    ``max_gap``, at least ``1 / rate``."""
    at = 0.0
    previous: datetime | None = None
    min_step = 1.0 / pacing.rate if pacing.rate else 0.0
    speed = pacing.speed
    first = True
    for data in in_time_order(records, window):
        gap = 0.0
        if speed is not None:
            received = _moment(data["received_at"])
            if previous is not None:
                gap = max(0.0, (received - previous).total_seconds()) / speed
                if pacing.max_gap is not None:
                    gap = min(gap, pacing.max_gap)
            if previous is None or received > previous:
                previous = received  # one read too late for the window does not stretch the next gap
        if not first:
            at += max(gap, min_step)
        first = False
        yield data, at


@dataclass(frozen=True, slots=True)
class Plan:
    """What to send and how: ``source`` opens the records afresh each time it is called (the
    replay streams them; nothing is held beyond :data:`READ_AHEAD` records), ``count`` and
    ``duration`` come from a first pass over them."""

    source: Source
    target: Target
    options: Options
    pacing: Pacing
    count: int
    duration: float
    window: int = READ_AHEAD

    def timeline(self) -> Iterator[tuple[Mapping[str, Any], float]]:
        """The requests to send, in order, each with its send offset (no more than were
        counted, should the snapshot have grown since)."""
        return itertools.islice(timeline(_sendable(self.source(), None), self.pacing, self.window), self.count)


def make_plan(
    records: Iterable[Mapping[str, Any]] | Source,
    target: Target,
    options: Options,
    pacing: Pacing,
    *,
    shift_timestamps: bool = False,
    start: datetime | None = None,
    skipped: Counter[str] | None = None,
    window: int = READ_AHEAD,
) -> Plan:
    """Select what can be sent (no CORS preflights, no truncated bodies, no web API requests
    or uploads: :data:`SKIPPED_WEB_API`, :data:`SKIPPED_UPLOAD`), count it, find how
    long it takes and the timestamp shift (``start``: when the replay begins, default now).

    ``records`` is a function that opens the records (called twice: this counting pass and
    the replay; only the first counts what is ``skipped``), or records in memory."""
    if callable(records):
        source: Source = records
    else:
        kept = records if isinstance(records, Sequence) else list(records)
        source = lambda: kept  # noqa: E731
    count, duration, latest = 0, 0.0, ""
    for data, offset in timeline(_sendable(source(), skipped), pacing, window):
        count += 1
        duration = offset
        latest = max(latest, data["received_at"])
    if shift_timestamps and count:
        shift = timestamp_shift(latest, start or datetime.now(UTC), duration)
        options = Options(options.auth, options.encoding, options.fresh_ids, shift)
    return Plan(source, target, options, pacing, count, duration, window)


def prepare_all(
    plan: Plan, start: datetime, ids: IdMap | None = None, on_skip: Callable[[str], None] = lambda _: None
) -> Iterator[tuple[Prepared, float]]:
    """Every request of ``plan`` rewritten as it would be sent, with its offset (for ``--dry-run``), streaming."""
    ids = ids if ids is not None else (IdMap() if plan.options.fresh_ids else None)
    for data, offset in plan.timeline():
        try:
            yield (
                rewrite_request(data, plan.target, plan.options, ids=ids, sent_at=start + timedelta(seconds=offset)),
                offset,
            )
        except NotReplayable as exc:
            on_skip(str(exc))
