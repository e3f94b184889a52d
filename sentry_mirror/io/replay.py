"""Replay: send recorded requests to a target server, paced, and collect what it answered.

The parts that decide (the schedule, rate limits as an SDK keeps them, the per-request
verdict and the report) are plain functions and classes; :func:`replay` is the client
around them (a small HTTP/1.1 client of its own, :class:`Client`). It sends only to the
target's URL, with bounded concurrency and an optional request rate, and returns once every
request is answered (or held back). Records stream: a replay holds a bounded number of them
(:data:`READ_AHEAD`) whatever the snapshot's size.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import re
import ssl
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson

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
from sentry_mirror.core.stats import nearest_rank

#: Requests not worth replaying: CORS preflights carry no data.
SKIPPED_METHODS = frozenset({"OPTIONS"})
REQUEST_TIMEOUT = 30.0
#: How long before its scheduled time a request is rewritten and compressed (with ``sent_at``
#: the scheduled time), so that only the write is left for that time.
PREPARE_AHEAD = 0.003
#: Response bytes kept per answer (the report and --results need the start only); the rest
#: of an answer is read and dropped as it arrives, so a huge answer costs no memory.
BODY_KEEP = 64 << 10
#: The longest line accepted in a chunked body's framing (a chunk-size line, a trailer).
MAX_LINE = 64 << 10
#: A refusal's reason is kept to this many characters, and the report counts at most
#: :data:`MAX_REASONS` distinct ones (the rest together as :data:`OTHER_REASONS`): a target
#: may answer every request with a new reason.
MAX_REASON = 200
MAX_REASONS = 1000
OTHER_REASONS = "(other reasons)"

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
    """Send offsets in seconds from the start, one per record (records in receive order):
    the recorded gaps divided by the speed (none at ``--speed max``), each at most
    ``max_gap``, at least ``1 / rate``."""
    return [offset for _, offset in timeline(records, pacing, max(1, len(records)))]


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
        if not self.until:
            return frozenset()
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
    body: bytes = b""  # the answer's first BODY_KEEP bytes
    body_size: int | None = None  # the whole answer's
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
        """Why the target refused: ``X-Sentry-Error``, the JSON ``detail``, or the body's start
        (at most :data:`MAX_REASON` characters of it)."""
        reason = self._reason()
        if reason is not None and len(reason) > MAX_REASON:
            return reason[:MAX_REASON] + "…"
        return reason

    def _reason(self) -> str | None:
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
                self.problems.append('200 without {"id": <the event id sent>} in the body')
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
            "response_body_size": self.body_size,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
            "held_back": list(self.held_back),
            "problems": self.problems,
        }


def items_label(types: Sequence[str]) -> str:
    """``event+attachment``, ``2×event`` for repeats, ``-`` for none."""
    key = tuple(types)
    label = _LABELS.get(key)
    if label is None:
        counts = Counter(t or "?" for t in key)
        label = "+".join(kind if n == 1 else f"{n}×{kind}" for kind, n in counts.items()) or "-"
        if len(_LABELS) < 4096:
            _LABELS[key] = label
    return label


_LABELS: dict[tuple[str, ...], str] = {}


@dataclass
class Row:
    """One line of the report: an endpoint and the item types its requests carried."""

    endpoint: str
    items: str
    outcomes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: array[float] = field(default_factory=lambda: array("d"))

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
    late_ms: array[float] = field(default_factory=lambda: array("d"))  # 8 bytes a request
    total: int = 0
    failed: int = 0
    interrupted: bool = False
    elapsed: float = 0.0

    def add(self, result: Result) -> None:
        sent = result.prepared
        key = (sent.endpoint, items_label(sent.item_types))
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = Row(*key)
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
            key = (result.status, result.reason or "")
            if key not in self.reasons and len(self.reasons) >= MAX_REASONS:
                key = (result.status, OTHER_REASONS)
            self.reasons[key] += 1
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
                    "latency_ms": {f"p{q}": nearest_rank(row.latencies, q) for q in (50, 95, 99)},
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


# ------------------------------------------------------------------ the plan (streaming)

#: Records held to put them in receive order: a listener writes a record when it has
#: answered, so its file is in receive order only up to requests that overlapped.
READ_AHEAD = 256

Source = Callable[[], Iterable[Mapping[str, Any]]]


def _sendable(records: Iterable[Mapping[str, Any]], skipped: Counter[str] | None) -> Iterator[Mapping[str, Any]]:
    """``records`` without what is not worth or not possible to send (counted in ``skipped``)."""
    for data in records:
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
    """Each record in receive order with its send offset in seconds from the start, as
    :func:`schedule` gives them, streaming."""
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
    """Select what can be sent (no CORS preflights, no truncated bodies), count it, find how
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
        shift = ((start or datetime.now(UTC)) + timedelta(seconds=duration) - _moment(latest)).total_seconds()
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


# ------------------------------------------------------------------ the HTTP client


class ServerDisconnected(ConnectionError):
    """The target closed the connection before its answer was complete."""


class InvalidResponse(ConnectionError):
    """The target's answer is not HTTP/1.x."""


_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})
#: A chunk size (before any ``;extension``) and a Content-Length as HTTP writes them: plain
#: digits only (Python's ``int`` also takes a sign, ``0x`` and ``_``).
_CHUNK_SIZE = re.compile(rb"[ \t]*([0-9A-Fa-f]{1,16})[ \t]*")
_LENGTH = re.compile(r"[0-9]{1,19}")


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: one request at a time, kept alive between requests.

    Bytes are collected as they arrive; :meth:`response` parses them (status line, headers,
    then a body framed by ``Content-Length``, chunked, or the end of the connection)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.received = False  # any byte of the current answer
        self.deadline = math.inf  # loop time by which the current answer must be complete
        self.error: BaseException | None = None  # why it was given up (a timeout)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.received = True
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def eof_received(self) -> bool:
        self._end()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()

    def _end(self) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def fail(self, error: BaseException) -> None:
        """Give up the current request: it raises ``error``."""
        self.error = error
        self.close()
        self._end()

    async def _more(self) -> None:
        """Wait for more bytes; :class:`ServerDisconnected` when the server closed instead."""
        if self.error is not None:
            raise self.error
        if self.closed:
            raise ServerDisconnected("the server closed the connection without a complete answer")
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None

    async def _line(self, pos: int = 0) -> int:
        """The index of the next CRLF at or after ``pos``, waiting for it (at most :data:`MAX_LINE` bytes)."""
        while (end := self.buffer.find(b"\r\n", pos)) < 0:
            if len(self.buffer) - pos > MAX_LINE:
                raise InvalidResponse(f"a line of the chunked framing over {MAX_LINE} bytes")
            await self._more()
        return end

    async def _read(self, body: _Body, count: int | None) -> None:
        """Move the next ``count`` bytes (None: up to the end of the connection) into ``body``
        as they arrive: the buffer never holds more than one read's worth of them."""
        buffer = self.buffer
        while count is None or count > 0:
            if not buffer:
                if count is None and self.closed:
                    if self.error is not None:
                        raise self.error
                    return
                await self._more()
                continue
            n = len(buffer) if count is None else min(count, len(buffer))
            body.add(buffer, n)
            del buffer[:n]
            if count is not None:
                count -= n

    async def response(
        self, head_request: bool, keep_bytes: int = BODY_KEEP
    ) -> tuple[int, list[tuple[str, str]], _Body, bool]:
        """(status, headers, body, whether the connection may be used again); the body keeps
        its first ``keep_bytes`` bytes and counts the rest."""
        buffer = self.buffer
        while True:
            while (end := buffer.find(b"\r\n\r\n")) < 0:
                if len(buffer) > 1 << 20:
                    raise InvalidResponse("response headers over 1 MiB")
                await self._more()
            lines = bytes(buffer[:end]).decode("utf-8", "replace").split("\r\n")
            del buffer[: end + 4]
            version, _, rest = lines[0].partition(" ")
            code = rest[:3]
            if not version.startswith("HTTP/1.") or not code.isdigit():
                raise InvalidResponse(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
            status = int(code)
            if 100 <= status < 200:
                continue  # an interim answer (100 Continue, 103 Early Hints): the real one follows
            break
        headers: list[tuple[str, str]] = []
        length: int | None = None
        chunked = False
        connection = ""
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and headers:  # obsolete line folding
                name, value = headers[-1]
                headers[-1] = (name, f"{value} {line.strip()}")
                continue
            name, _, value = line.partition(":")
            name, value = name.strip(), value.strip()
            headers.append((name, value))
            lower = name.lower()
            if lower in _FRAMING:
                if lower == "content-length":
                    if not _LENGTH.fullmatch(value):
                        raise InvalidResponse(f"invalid Content-Length {value[:40]!r}")
                    length = int(value)
                elif lower == "transfer-encoding":
                    chunked = value.lower().endswith("chunked")
                else:
                    connection = value.lower()
        keep = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
        body = _Body(keep_bytes)
        if head_request or status in (204, 304):
            pass
        elif chunked:
            await self._chunked(body)
        elif length is not None:
            await self._read(body, length)
        else:  # the body ends with the connection
            await self._read(body, None)
            keep = False
        return status, headers, body, keep and not self.closed and not buffer

    async def _chunked(self, body: _Body) -> None:
        buffer = self.buffer
        while True:
            end = await self._line()
            digits = _CHUNK_SIZE.fullmatch(bytes(buffer[:end]).split(b";")[0])
            if digits is None:
                raise InvalidResponse("invalid chunk size")
            size = int(digits.group(1), 16)
            del buffer[: end + 2]
            if size == 0:
                while (end := await self._line()) > 0:  # trailers, up to an empty line
                    del buffer[: end + 2]
                del buffer[:2]
                return
            await self._read(body, size)
            while len(buffer) < 2:
                await self._more()
            del buffer[:2]


class _Body:
    """An answer's body as it streams in: the first ``keep`` bytes, and the size of all of it."""

    __slots__ = ("keep", "kept", "size")

    def __init__(self, keep: int) -> None:
        self.kept = bytearray()
        self.keep = keep
        self.size = 0

    def add(self, buffer: bytearray, n: int) -> None:
        """The first ``n`` bytes of ``buffer`` are the next part of the body."""
        room = self.keep - len(self.kept)
        if room > 0:
            self.kept += buffer[: min(n, room)]
        self.size += n


class Answer(NamedTuple):
    """What :meth:`Client.request` returns: the body is the answer's first bytes (``size`` is all of it)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    written: float  # the loop time the request was written at
    size: int


class Client:
    """A small HTTP/1.1 client for one origin (the target), with kept-alive connections.

    Replay sends thousands of small requests a second to one server; a general-purpose
    client (aiohttp's) spends about three times as much CPU per request as this does, more
    than the whole budget. It sends exactly the headers it is given, plus ``Host`` and
    ``Content-Length``, in one write; it does not follow redirects or decode bodies. Of each
    answer's body it keeps the first ``keep_bytes`` and reads the rest only to drop it, so a
    target answering with gigabytes costs no memory."""

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int | None,
        timeout: float = REQUEST_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
        keep_bytes: int = BODY_KEEP,
    ) -> None:
        self.timeout = timeout
        self.keep_bytes = keep_bytes
        self.host_header = host if port is None else f"{host}:{port}"
        self.origin = f"{scheme}://{self.host_header}"
        self._host = host[1:-1] if host.startswith("[") else host
        self._port = port if port is not None else (443 if scheme == "https" else 80)
        self._ssl = (
            (ssl_context or ssl.create_default_context()) if scheme == "https" else None
        )  # certificates verified
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self._busy: set[_Connection] = set()
        self._watchdog: asyncio.TimerHandle | None = None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.timeout):
            _, connection = await loop.create_connection(
                _Connection, self._host, self._port, ssl=self._ssl, server_hostname=self._host if self._ssl else None
            )
        self._open.add(connection)
        return connection

    def _watch(self) -> None:
        """Every so often: give up the requests past their deadline (one timer for all of
        them is far cheaper than one per request)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        for connection in [c for c in self._busy if c.deadline <= now]:
            self._busy.discard(connection)
            connection.fail(TimeoutError(f"no complete answer within {self.timeout:g} s"))
        self._watchdog = loop.call_later(min(1.0, self.timeout / 4), self._watch) if self._busy else None

    def head(self, method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes) -> bytes:
        """The request line and headers for ``url`` (which must be on this origin)."""
        if not url.startswith(self.origin) or url[len(self.origin) : len(self.origin) + 1] not in ("/", "?", ""):
            raise ValueError(f"{url!r} is not on {self.origin}")
        target = url[len(self.origin) :] or "/"
        lines = [f"{method} {target} HTTP/1.1\r\nHost: {self.host_header}\r\n"]
        count = 2
        for name, value in headers:
            lines.append(f"{name}: {value}\r\n")
            count += 1
        if body or method not in ("GET", "HEAD"):
            lines.append(f"Content-Length: {len(body)}\r\n")
            count += 1
        lines.append("\r\n")
        text = "".join(lines)
        if text.count("\n") != count + 1 or text.count("\r") != count + 1:
            raise ValueError("a header name or value holds a line break")
        return text.encode("utf-8", "surrogateescape")

    async def request(self, method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes) -> Answer:
        """Send one request; its answer, of which the first :attr:`keep_bytes` bytes of body are kept."""
        data = self.head(method, url, headers, body) + body
        loop = asyncio.get_running_loop()
        while True:
            connection = None
            while self._idle:
                candidate = self._idle.pop()
                if not candidate.closed and not candidate.buffer:
                    connection = candidate
                    break
                self._drop(candidate)
            reused = connection is not None
            if connection is None:
                connection = await self._connect()
            connection.received = False
            written = loop.time()
            connection.deadline = written + self.timeout
            self._busy.add(connection)
            if self._watchdog is None:
                self._watch()
            assert connection.transport is not None
            connection.transport.write(data)
            try:
                status, answer_headers, answer, keep = await connection.response(method == "HEAD", self.keep_bytes)
            except ServerDisconnected:
                self._drop(connection)
                if reused and not connection.received:
                    continue  # the server had closed this idle connection: once more on a new one
                raise
            except BaseException:
                self._drop(connection)
                raise
            finally:
                self._busy.discard(connection)
            if keep:
                self._idle.append(connection)
            else:
                self._drop(connection)
            return Answer(status, answer_headers, bytes(answer.kept), written, answer.size)

    def _drop(self, connection: _Connection) -> None:
        connection.close()
        self._open.discard(connection)

    def close(self) -> None:
        for connection in list(self._open):
            self._drop(connection)
        self._idle.clear()
        self._busy.clear()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None


# ------------------------------------------------------------------ replay


async def replay(
    plan: Plan,
    pacing: Pacing | None = None,
    *,
    honour_rate_limits: bool = True,
    on_result: Callable[[Result], None] = lambda _: None,
    on_skip: Callable[[str], None] = lambda _: None,
    ids: IdMap | None = None,
) -> None:
    """Send every request of ``plan`` to its target; call ``on_result`` for each, in
    completion order. Returns when all are done; cancelling it (Ctrl-C) stops sending and
    abandons the requests in flight.

    ``pacing.concurrency`` workers take the requests in order, each waits for its request's
    scheduled time, rewrites it (with the rate limits and the time of that moment) and sends
    it; records are read as they are needed."""
    pacing = pacing or plan.pacing
    requests = plan.timeline()
    first = next(requests, None)  # the clock starts once the first request is read (and the read-ahead filled)
    if first is None:
        return
    requests = itertools.chain([first], requests)
    sender = _Sender(
        plan,
        ids if ids is not None else (IdMap() if plan.options.fresh_ids else None),
        RateLimits() if honour_rate_limits else None,
        on_result,
        on_skip,
        pacing.speed is not None,
    )
    workers = [asyncio.ensure_future(sender.work(requests)) for _ in range(max(1, pacing.concurrency))]
    try:
        await asyncio.gather(*workers)
    finally:
        for worker in workers:
            worker.cancel()
        sender.client.close()


class _Sender:
    def __init__(
        self,
        plan: Plan,
        ids: IdMap | None,
        limits: RateLimits | None,
        on_result: Callable[[Result], None],
        on_skip: Callable[[str], None],
        paced: bool,
    ) -> None:
        dsn = plan.target.dsn
        self.client = Client(dsn.scheme, dsn.host, dsn.port)
        self.target, self.options = plan.target, plan.options
        self.ids, self.limits = ids, limits
        self.on_result, self.on_skip = on_result, on_skip
        self.paced = paced
        self.loop = asyncio.get_running_loop()
        self.start_mono = self.loop.time()
        self.start_wall = datetime.now(UTC)

    async def work(self, requests: Iterator[tuple[Mapping[str, Any], float]]) -> None:
        loop, start = self.loop, self.start_mono
        for data, offset in requests:  # shared by the workers: each takes the next one
            delay = start + offset - PREPARE_AHEAD - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await self.send(data, offset)

    async def send(self, data: Mapping[str, Any], offset: float) -> None:
        """Rewrite the request a little before its time (:data:`PREPARE_AHEAD`), with
        ``sent_at`` the moment it is due, then send it when it is due."""
        loop = self.loop
        now = loop.time()
        due = self.start_mono + offset
        sent_at = self.start_wall + timedelta(seconds=max(now, due) - self.start_mono)
        limits = self.limits
        categories: tuple[str, ...] = ()
        held: frozenset[str] = frozenset()
        if limits is not None and limits.until:  # only once the target has asked to hold something back
            categories = record_categories(data)
            held = limits.limited(categories, now)
        envelope = data["endpoint"] in ("envelope", "tunnel")
        try:
            prepared = rewrite_request(
                data,
                self.target,
                self.options,
                ids=self.ids,
                sent_at=sent_at,
                hold_back=held if envelope else frozenset(),
            )
        except NotReplayable as exc:
            self.on_skip(str(exc))
            return
        result = Result(prepared, offset, sent_at=format_time(sent_at))
        if held:
            result.held_back = tuple(sorted(held))
            if held >= set(categories) - {"internal"} or (envelope and not prepared.item_types):
                # everything it carries is rate-limited: an SDK would not send it at all
                result.prepared = rewrite_request(data, self.target, self.options, ids=self.ids, sent_at=sent_at)
                self.on_result(result)
                return
        wait = due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            status, headers, body, written, size = await self.client.request(
                prepared.method, prepared.url, prepared.headers, prepared.body
            )
        except (TimeoutError, OSError, ValueError) as exc:
            result.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            result.latency_ms = (loop.time() - now) * 1000
        else:
            result.latency_ms = (loop.time() - written) * 1000
            if self.paced:
                result.late_ms = max(0.0, (written - self.start_mono - offset) * 1000)
            result.status, result.headers, result.body, result.body_size = status, headers, body, size
            if limits is not None and (status == 429 or any(k.lower() == "x-sentry-rate-limits" for k, _ in headers)):
                limits.update(status, {k.lower(): v for k, v in headers}, loop.time())
            result.check_contract()
        self.on_result(result)
