"""Replay: send recorded requests to a target server, paced, and collect what it answered.

The parts that decide (the schedule, rate limits as an SDK keeps them, the per-request
verdict and the report) are plain functions and classes; :func:`replay` is the aiohttp
client around them. It sends only to the target's URL, with bounded concurrency and an
optional request rate, and returns once every request is answered (or held back).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
from yarl import URL

from sentry_mirror.core.envelope import normalize_uuid
from sentry_mirror.core.record import encode_bytes, format_time, parse_time
from sentry_mirror.core.rewrite import (
    IdMap,
    NotReplayable,
    Options,
    Prepared,
    Target,
    record_categories,
    rewrite_request,
)

#: Requests not worth replaying: CORS preflights carry no data.
SKIPPED_METHODS = frozenset({"OPTIONS"})
REQUEST_TIMEOUT = 30.0
#: Responses bodies kept per result (the report and --results need the start only).
BODY_KEEP = 64 << 10

# ------------------------------------------------------------------ the schedule


@dataclass(frozen=True, slots=True)
class Pacing:
    """``speed``: 1 keeps the recorded gaps, 10 is ten times faster, None sends as fast as
    allowed. ``max_gap`` caps each (scaled) gap, ``rate`` caps requests per second,
    ``concurrency`` caps requests in flight."""

    speed: float | None = None
    max_gap: float | None = None
    rate: float | None = None
    concurrency: int = 16


def schedule(records: Sequence[Mapping[str, Any]], pacing: Pacing) -> list[float]:
    """Send offsets in seconds from the start, one per record (records in receive order)."""
    offsets: list[float] = []
    at = 0.0
    previous: datetime | None = None
    min_step = 1.0 / pacing.rate if pacing.rate else 0.0
    for data in records:
        received = parse_time(data["received_at"])
        gap = 0.0
        if previous is not None and pacing.speed is not None:
            gap = max(0.0, (received - previous).total_seconds()) / pacing.speed
            if pacing.max_gap is not None:
                gap = min(gap, pacing.max_gap)
        if offsets:
            gap = max(gap, min_step)
        at += gap
        offsets.append(at)
        previous = received
    return offsets


def timestamp_shift(records: Sequence[Mapping[str, Any]], start: datetime, duration: float) -> float:
    """Seconds to add to every timestamp so that the last request's receive time lands at the
    scheduled end of the replay (``start`` with ``--speed max``). Timestamps keep their
    spacing, and none lands after the moment its request is sent (at ``--speed`` 1 or more)."""
    if not records:
        return 0.0
    latest = max(parse_time(d["received_at"]) for d in records)
    return (start + timedelta(seconds=duration) - latest).total_seconds()


# ------------------------------------------------------------------ rate limits


def parse_rate_limits(value: str) -> list[tuple[float, frozenset[str]]]:
    """``X-Sentry-Rate-Limits``: ``<secs>:<cat;cat>:<scope>[:<reason>[:<ns>]], ...`` ->
    [(seconds, categories)], empty categories meaning all. Unparseable entries are skipped."""
    limits = []
    for entry in value.split(","):
        parts = entry.strip().split(":")
        if not parts or not parts[0]:
            continue
        try:
            seconds = float(parts[0])
        except ValueError:
            continue
        categories = frozenset(c for c in (parts[1].split(";") if len(parts) > 1 else ()) if c)
        limits.append((seconds, categories))
    return limits


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value is not None else 60.0
    except ValueError:
        return 60.0


class RateLimits:
    """What an SDK keeps from 429s and ``X-Sentry-Rate-Limits`` (on any status): until when
    each category (``None``: all) may not be sent. ``internal`` (client reports) never is."""

    def __init__(self) -> None:
        self.until: dict[str | None, float] = {}

    def update(self, status: int, headers: Mapping[str, str], now: float) -> None:
        header = headers.get("x-sentry-rate-limits")
        if header:
            for seconds, categories in parse_rate_limits(header):
                for category in categories or (None,):
                    self.until[category] = max(self.until.get(category, 0.0), now + seconds)
        elif status == 429:
            self.until[None] = max(self.until.get(None, 0.0), now + _retry_after(headers.get("retry-after")))

    def limited(self, categories: Iterable[str], now: float) -> frozenset[str]:
        everything = self.until.get(None, 0.0) > now
        return frozenset(c for c in categories if c != "internal" and (everything or self.until.get(c, 0.0) > now))


# ------------------------------------------------------------------ results


@dataclass(slots=True)
class Result:
    """What happened to one request."""

    prepared: Prepared
    scheduled: float  # offset from the start, seconds
    sent_at: str | None = None
    late_ms: float | None = None  # how long after its scheduled time it went out
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    latency_ms: float | None = None
    error: str | None = None  # transport error
    held_back: tuple[str, ...] = ()  # rate-limited categories not sent
    problems: list[str] = field(default_factory=list)  # response-contract findings

    @property
    def outcome(self) -> str:
        """``accepted``, ``rejected``, ``rate-limited``, ``server-error``, ``transport-error`` or ``held-back``."""
        if self.error is not None:
            return "transport-error"
        if self.status is None:
            return "held-back"
        if self.status == 429:
            return "rate-limited"
        if self.status >= 500:
            return "server-error"
        return "accepted" if 200 <= self.status < 300 else "rejected"  # SDKs treat a redirect as a failure

    @property
    def failed(self) -> bool:
        """Not accepted (or a broken response contract), unless refused like the mirror (as
        Sentry) refused it when it was recorded."""
        if self.problems:
            return True
        if self.outcome == "rejected" and self.prepared.recorded_status >= 400:
            return False
        return self.outcome in ("rejected", "rate-limited", "server-error", "transport-error")

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    @property
    def reason(self) -> str | None:
        """Why the target refused: ``X-Sentry-Error``, the JSON ``detail``, or the body's start."""
        if self.error is not None:
            return self.error
        if self.status is None or self.status < 400:
            return None
        found = self.header("x-sentry-error")
        if found:
            return found
        try:
            value = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            for key in ("detail", "message", "error"):
                if isinstance(value.get(key), str):
                    return value[key]
        text = self.body.decode("utf-8", "replace").strip().splitlines()
        return text[0][:120] if text else None

    def check_contract(self) -> None:
        """The answer a Sentry SDK relies on: a 200 to an event names its id; a 429 says for how
        long; a target agrees with the mirror (which answers as Relay) on refusals."""
        status, sent = self.status, self.prepared
        if status is None:
            return
        if status == 200 and sent.event_id and sent.endpoint in ("envelope", "tunnel", "store"):
            try:
                answered = orjson.loads(self.body)
            except orjson.JSONDecodeError:
                answered = None
            answered_id = normalize_uuid(answered.get("id")) if isinstance(answered, dict) else None
            if answered_id != sent.event_id:
                self.problems.append(f'200 without {{"id": "{sent.event_id}"}} in the body')
        if status == 429 and not (self.header("retry-after") or self.header("x-sentry-rate-limits")):
            self.problems.append("429 without Retry-After or X-Sentry-Rate-Limits")
        recorded = sent.recorded_status
        if recorded in (400, 401, 403, 413, 415) and status < 400:
            self.problems.append(f"accepted what Sentry refuses ({recorded})")

    def to_dict(self) -> dict[str, Any]:
        body, b64 = encode_bytes(self.body)
        return {
            **self.prepared.to_dict(),
            "scheduled": round(self.scheduled, 6),
            "sent_at": self.sent_at,
            "late_ms": None if self.late_ms is None else round(self.late_ms, 3),
            "outcome": self.outcome,
            "status": self.status,
            "reason": self.reason,
            "response_headers": [list(h) for h in self.headers],
            "response_body": body,
            "response_body_base64": b64,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
            "held_back": list(self.held_back),
            "problems": self.problems,
        }


def items_label(types: Sequence[str]) -> str:
    """``event+attachment``, ``2×event`` for repeats, ``-`` for none."""
    counts = Counter(t or "?" for t in types)
    return "+".join(kind if n == 1 else f"{n}×{kind}" for kind, n in counts.items()) or "-"


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile ``q`` (0-100) of ``values``, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass
class Row:
    """One line of the report: an endpoint and the item types its requests carried."""

    endpoint: str
    items: str
    outcomes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(n for outcome, n in self.outcomes.items() if outcome != "held-back")

    def count(self, klass: int) -> int:
        return sum(n for status, n in self.statuses.items() if status // 100 == klass and status != 429)


@dataclass
class Report:
    """Everything the summary shows, filled one :class:`Result` at a time."""

    rows: dict[tuple[str, str], Row] = field(default_factory=dict)
    reasons: Counter[tuple[int | None, str]] = field(default_factory=Counter)
    problems: Counter[str] = field(default_factory=Counter)
    items_sent: Counter[str] = field(default_factory=Counter)
    items_accepted: Counter[str] = field(default_factory=Counter)
    items_held: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    late_ms: list[float] = field(default_factory=list)
    total: int = 0
    failed: int = 0
    interrupted: bool = False
    elapsed: float = 0.0

    def add(self, result: Result) -> None:
        sent = result.prepared
        key = (sent.endpoint, items_label(sent.item_types))
        row = self.rows.setdefault(key, Row(*key))
        outcome = result.outcome
        row.outcomes[outcome] += 1
        self.total += 1
        if result.status is not None:
            row.statuses[result.status] += 1
        if result.latency_ms is not None:
            row.latencies.append(result.latency_ms)
        if result.late_ms is not None:
            self.late_ms.append(result.late_ms)
        if outcome != "held-back":
            for item_type in sent.item_types:
                self.items_sent[item_type] += 1
                if outcome == "accepted":
                    self.items_accepted[item_type] += 1
            for change in sent.changes:
                if change.startswith("held back "):
                    self.items_held.update(change.removeprefix("held back ").split("+"))
        else:
            self.items_held.update(sent.item_types)
        if outcome in ("rejected", "rate-limited", "server-error", "transport-error"):
            self.reasons[(result.status, result.reason or "")] += 1
        for problem in result.problems:
            self.problems[problem] += 1
        if result.failed:
            self.failed += 1

    def outcomes(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for row in self.rows.values():
            total.update(row.outcomes)
        return total

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.total,
            "failed": self.failed,
            "interrupted": self.interrupted,
            "elapsed_s": round(self.elapsed, 3),
            "outcomes": dict(self.outcomes()),
            "rows": [
                {
                    "endpoint": row.endpoint,
                    "items": row.items,
                    "sent": row.sent,
                    "2xx": row.count(2),
                    "4xx": row.count(4),
                    "5xx": row.count(5),
                    "rate_limited": row.outcomes["rate-limited"],
                    "held_back": row.outcomes["held-back"],
                    "transport_errors": row.outcomes["transport-error"],
                    "latency_ms": {f"p{q}": percentile(row.latencies, q) for q in (50, 95, 99)},
                }
                for row in self.rows.values()
            ],
            "rejections": [{"status": s, "reason": r, "count": n} for (s, r), n in self.reasons.most_common()],
            "items_sent": dict(self.items_sent),
            "items_accepted": dict(self.items_accepted),
            "items_held_back": dict(self.items_held),
            "problems": dict(self.problems),
            "skipped": dict(self.skipped),
        }


# ------------------------------------------------------------------ the client


@dataclass(frozen=True, slots=True)
class Plan:
    """The requests to send, each with its send offset, and how the rewrite was set up."""

    records: list[Mapping[str, Any]]
    offsets: list[float]
    target: Target
    options: Options

    @property
    def duration(self) -> float:
        return self.offsets[-1] if self.offsets else 0.0


def make_plan(
    records: Iterable[Mapping[str, Any]],
    target: Target,
    options: Options,
    pacing: Pacing,
    *,
    shift_timestamps: bool = False,
    start: datetime | None = None,
    skipped: Counter[str] | None = None,
) -> Plan:
    """Select what can be sent (no CORS preflights, no truncated bodies), schedule it, and
    work out the timestamp shift (``start``: when the replay begins, default now)."""
    kept = []
    for data in records:
        if data["method"] in SKIPPED_METHODS:
            if skipped is not None:
                skipped["CORS preflight (OPTIONS)"] += 1
            continue
        if data.get("body_truncated"):
            if skipped is not None:
                skipped["body truncated when recorded"] += 1
            continue
        kept.append(data)
    kept.sort(key=lambda d: d["received_at"])
    offsets = schedule(kept, pacing)
    duration = offsets[-1] if offsets else 0.0
    if shift_timestamps:
        shift = timestamp_shift(kept, start or datetime.now(UTC), duration)
        options = Options(options.auth, options.encoding, options.fresh_ids, shift)
    return Plan(kept, offsets, target, options)


def prepare_all(plan: Plan, start: datetime, ids: IdMap | None = None, on_skip: Callable[[str], None] = lambda _: None) -> list[tuple[Prepared, float]]:
    """Every request of ``plan`` rewritten as it would be sent, with its offset (for ``--dry-run``)."""
    ids = ids if ids is not None else (IdMap() if plan.options.fresh_ids else None)
    prepared = []
    for data, offset in zip(plan.records, plan.offsets, strict=True):
        try:
            prepared.append((rewrite_request(data, plan.target, plan.options, ids=ids, sent_at=start + timedelta(seconds=offset)), offset))
        except NotReplayable as exc:
            on_skip(str(exc))
    return prepared


async def replay(
    plan: Plan,
    pacing: Pacing,
    *,
    honour_rate_limits: bool = True,
    on_result: Callable[[Result], None] = lambda _: None,
    on_skip: Callable[[str], None] = lambda _: None,
    ids: IdMap | None = None,
    session: aiohttp.ClientSession | None = None,
) -> None:
    """Send every request of ``plan`` to its target; call ``on_result`` for each, in
    completion order. Returns when all are done; cancelling it (Ctrl-C) stops sending and
    abandons the requests in flight."""
    ids = ids if ids is not None else (IdMap() if plan.options.fresh_ids else None)
    limits = RateLimits()
    own = session is None
    if session is None:
        connector = aiohttp.TCPConnector(limit=pacing.concurrency, force_close=False)
        session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Content-Type", "Accept-Encoding", "Accept"),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        )
    semaphore = asyncio.Semaphore(pacing.concurrency)
    tasks: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()
    start_mono = loop.time()
    start_wall = datetime.now(UTC)
    try:
        for data, offset in zip(plan.records, plan.offsets, strict=True):
            delay = start_mono + offset - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await semaphore.acquire()
            now = loop.time()
            task = asyncio.create_task(
                _send_one(session, data, offset, None if pacing.speed is None else now - start_mono - offset, plan, ids, limits if honour_rate_limits else None, start_wall, start_mono, on_result, on_skip)
            )
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            task.add_done_callback(lambda _: semaphore.release())
        if tasks:
            await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        if own:
            await session.close()


async def _send_one(
    session: aiohttp.ClientSession,
    data: Mapping[str, Any],
    offset: float,
    late: float | None,
    plan: Plan,
    ids: IdMap | None,
    limits: RateLimits | None,
    start_wall: datetime,
    start_mono: float,
    on_result: Callable[[Result], None],
    on_skip: Callable[[str], None],
) -> None:
    loop = asyncio.get_running_loop()
    sent_at = start_wall + timedelta(seconds=loop.time() - start_mono)
    categories = record_categories(data)
    held = limits.limited(categories, loop.time()) if limits is not None else frozenset()
    try:
        prepared = rewrite_request(data, plan.target, plan.options, ids=ids, sent_at=sent_at, hold_back=held if data["endpoint"] in ("envelope", "tunnel") else frozenset())
    except NotReplayable as exc:
        on_skip(str(exc))
        return
    result = Result(prepared, offset, sent_at=format_time(sent_at), late_ms=None if late is None else max(0.0, late * 1000))
    result.held_back = tuple(sorted(held))
    if held and (held >= set(categories) - {"internal"} or not prepared.item_types and data["endpoint"] in ("envelope", "tunnel")):
        # everything it carries is rate-limited: an SDK would not send it at all
        result.prepared = rewrite_request(data, plan.target, plan.options, ids=ids, sent_at=sent_at)
        result.late_ms = None
        on_result(result)
        return
    began = time.perf_counter()
    try:
        async with session.request(
            prepared.method, URL(prepared.url, encoded=True), data=prepared.body if prepared.body or prepared.method != "GET" else None, headers=list(prepared.headers), allow_redirects=False
        ) as response:
            body = await response.read()
            result.status = response.status
            result.headers = [(k, v) for k, v in response.headers.items()]
            result.body = body[:BODY_KEEP]
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        result.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    result.latency_ms = (time.perf_counter() - began) * 1000
    if result.status is not None:
        if limits is not None:
            limits.update(result.status, {k.lower(): v for k, v in result.headers}, loop.time())
        result.check_contract()
    on_result(result)
