"""Section 10, ``upstream``: what the upstream (``listen --forward``) and the candidates
(``--tee``) answered, read from the answer records (:mod:`sentry_mirror.core.answer`) only;
a report over snapshots holding none has no such section.

Per target (its ``target`` and ``to``): answers by status, delivered or not, copies dropped
(a candidate's full queue), errors, latency percentiles, and the rate limits seen (429s,
``X-Sentry-Rate-Limits`` categories, ``Retry-After``). Per endpoint, item types and target:
answers by status class. Per request, its answers joined by ``request_id``
(:mod:`.pairing`): whether the upstream took it, and where the upstream and a candidate
disagree.

Answers ``replay --undelivered`` recorded (``via`` replay) count for their target, and as
requests delivered later; they are not joined (they come long after, in another file).

Bounds: at most :data:`MAX_TARGETS` targets and :data:`MAX_ROWS` endpoint rows (the rest
under :data:`~.bounded.OTHER`), :data:`LATENCY_SAMPLE` latencies per target for the
percentiles, 100 distinct statuses, errors and rate-limit categories per target (the first
met). Merging is exact within these bounds and the pairing window (see :mod:`.pairing`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeGuard

from sentry_mirror.core.ratelimits import parse_rate_limits
from sentry_mirror.core.report.bounded import OTHER, Capped, Json, Reservoir, bounded, by_count, merge_tables, num
from sentry_mirror.core.report.pairing import SEP, Answer, Pairing, status_class
from sentry_mirror.core.report.view import RecordView

MAX_TARGETS = 100
MAX_ROWS = 1_000
#: Latencies kept per target for its percentiles.
LATENCY_SAMPLE = 5_000
#: Distinct keys per target's counters (statuses, errors, rate-limit categories).
MAX_PER_TARGET = 100
#: Characters of an error message (a connection error's text) kept.
MAX_ERROR = 200
#: The JSON name of a status no answer came with, and of a copy never sent.
NO_ANSWER = "no answer"
DROPPED = "dropped"
#: The rate-limit "category" of an ``X-Sentry-Rate-Limits`` entry naming none (all of them).
ALL_CATEGORIES = "(all)"
#: Latencies (ms) and rate-limit durations (s) beyond this (11+ days) are damaged, not counted.
LONGEST = 1e9


def _capped() -> Capped:
    return Capped(MAX_PER_TARGET)


class Limit:
    """How often a rate limit was seen, and its longest duration."""

    __slots__ = ("answers", "longest")

    def __init__(self) -> None:
        self.answers = 0
        self.longest: float | None = None

    def add(self, seconds: float | None) -> None:
        self.answers += 1
        self._longer(seconds)

    def _longer(self, seconds: float | None) -> None:
        if _sane(seconds) and (self.longest is None or seconds > self.longest):
            self.longest = seconds

    def merge(self, other: Limit) -> None:
        self.answers += other.answers
        self._longer(other.longest)

    def to_json(self) -> Json:
        return {"answers": self.answers, "max_s": None if self.longest is None else num(self.longest)}


def _limit() -> Limit:
    return Limit()


class Target:
    """What one target answered."""

    __slots__ = (
        "answers",
        "by_status",
        "delivered",
        "errors",
        "latency",
        "limits",
        "rate_limited",
        "replayed",
        "retry_after",
        "returned",
    )

    def __init__(self) -> None:
        self.answers = 0
        self.delivered = 0
        self.returned = 0
        self.replayed = 0
        self.rate_limited = 0
        self.by_status = _capped()
        self.errors = _capped()
        self.latency = Reservoir(LATENCY_SAMPLE)
        self.limits: dict[str, Limit] = {}
        self.retry_after = Limit()

    def add(self, data: Mapping[str, Any], answer: Answer) -> None:
        self.answers += 1
        self.delivered += answer.delivered
        self.returned += data.get("returned") is True
        self.replayed += data.get("via") == "replay"
        self.rate_limited += answer.status == 429
        self.by_status.add(_status_key(answer))
        if answer.error:
            self.errors.add(answer.error)
        latency = data.get("latency_ms")
        if type(latency) in (int, float) and _sane(latency):
            self.latency.add(float(latency))
        self._rate_limits(data.get("headers"))

    def _rate_limits(self, headers: Any) -> None:
        for pair in headers if isinstance(headers, list) else ():
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], str)):
                continue
            name = str(pair[0]).lower()
            if name == "x-sentry-rate-limits":
                for seconds, categories in parse_rate_limits(pair[1]):
                    for category in sorted(categories) or (ALL_CATEGORIES,):
                        bounded(self.limits, category[:100], MAX_PER_TARGET, _limit).add(seconds)
            elif name == "retry-after":
                self.retry_after.add(_seconds(pair[1]))

    def merge(self, other: Target) -> None:
        self.answers += other.answers
        self.delivered += other.delivered
        self.returned += other.returned
        self.replayed += other.replayed
        self.rate_limited += other.rate_limited
        self.by_status.merge(other.by_status)
        self.errors.merge(other.errors)
        self.latency.merge(other.latency)
        merge_tables(self.limits, other.limits, MAX_PER_TARGET, _limit, Limit.merge)
        self.retry_after.merge(other.retry_after)

    def to_json(self) -> Json:
        dropped = self.by_status[DROPPED]
        latency = self.latency.to_json()
        return {
            "answers": self.answers,
            "delivered": self.delivered,
            "undelivered": self.answers - self.delivered - dropped,
            "dropped": dropped,
            "returned": self.returned,
            "via_replay": self.replayed,
            "by_status": by_count(self.by_status),
            "errors": by_count(self.errors),
            "latency_ms": {
                "count": latency["count"],
                "p50": latency["p50"],
                "p95": latency["p95"],
                "p99": num(p99) if (p99 := self.latency.percentile(0.99)) is not None else None,
                "max": latency["max"],
            },
            "rate_limited": self.rate_limited,
            "rate_limits": {category: limit.to_json() for category, limit in sorted(self.limits.items())},
            "retry_after": self.retry_after.to_json() if self.retry_after.answers else None,
        }


def _status_key(answer: Answer) -> str | int:
    """The answer's row in a table by status: its status, or :data:`NO_ANSWER`, :data:`DROPPED`."""
    return DROPPED if answer.dropped else NO_ANSWER if answer.status is None else answer.status


def _sane(value: float | None) -> TypeGuard[float]:
    """A duration: a number from 0 to :data:`LONGEST`."""
    return value is not None and 0 <= value <= LONGEST


def _seconds(value: str) -> float | None:
    """``Retry-After`` in seconds (None for an HTTP date or anything else)."""
    try:
        return float(value)
    except ValueError:
        return None


class Row:
    """Answers of one target to the requests of one endpoint carrying some item types."""

    __slots__ = ("answers", "by_class", "by_status", "delivered")

    def __init__(self) -> None:
        self.answers = 0
        self.delivered = 0
        self.by_status = _capped()
        self.by_class = Capped(20)

    def add(self, answer: Answer) -> None:
        self.answers += 1
        self.delivered += answer.delivered
        self.by_status.add(_status_key(answer))
        self.by_class.add(DROPPED if answer.dropped else status_class(answer.status))

    def merge(self, other: Row) -> None:
        self.answers += other.answers
        self.delivered += other.delivered
        self.by_status.merge(other.by_status)
        self.by_class.merge(other.by_class)


class Upstream:
    """The ``upstream`` aggregator: fed answer records only (the builder hands them to
    :meth:`answer`); request records never reach it."""

    reads: frozenset[str] = frozenset()  # no request record

    def __init__(self) -> None:
        self.count = 0
        self.targets: dict[str, Target] = {}
        self.rows: dict[str, Row] = {}
        self.pairing = Pairing()

    def add(self, view: RecordView) -> None:
        """Count the answer record in ``view`` (the builder calls :meth:`answer` directly)."""
        self.answer(view.data)

    def answer(self, data: Mapping[str, Any]) -> None:
        """Count one answer record."""
        answer = Answer(data, MAX_ERROR)
        self.count += 1
        target = f"{answer.target}{SEP}{answer.to}"
        bounded(self.targets, target, MAX_TARGETS, Target).add(data, answer)
        row = SEP.join((answer.endpoint, answer.items, target))
        bounded(self.rows, row, MAX_ROWS, Row).add(answer)
        if data.get("via") == "replay":
            self.pairing.replayed(answer)
        else:
            self.pairing.add(str(data.get("request_id") or ""), answer)

    def merge(self, other: Upstream) -> None:
        self.count += other.count
        merge_tables(self.targets, other.targets, MAX_TARGETS, Target, Target.merge)
        merge_tables(self.rows, other.rows, MAX_ROWS, Row, Row.merge)
        self.pairing.merge(other.pairing)

    def result(self) -> Json:
        targets = [{**_target_of(key), **target.to_json()} for key, target in self.targets.items()]
        targets.sort(key=_target_order)
        rows = []
        for key, row in self.rows.items():
            endpoint, items, target, to = key.split(SEP) if key != OTHER else (OTHER, "", "", "")
            rows.append(
                {
                    "endpoint": endpoint,
                    "items": items,
                    "target": target,
                    "to": to,
                    "answers": row.answers,
                    "delivered": row.delivered,
                    "by_status": by_count(row.by_status),
                    "by_class": by_count(row.by_class),
                }
            )
        rows.sort(key=lambda r: (r["endpoint"], r["items"], _target_order(r)))
        truncated = [name for name, table in (("targets", self.targets), ("by_endpoint", self.rows)) if OTHER in table]
        return {
            "answers": self.count,
            "targets": targets,
            "by_endpoint": rows,
            **self.pairing.to_json(),
            "truncated": truncated,
        }


def _target_of(key: str) -> dict[str, str]:
    target, _, to = key.partition(SEP)
    return {"target": target, "to": to}


def _target_order(row: Mapping[str, Any]) -> tuple[int, str, str]:
    """The upstream first, then the candidates by ``to``, then the rest (``(other)``)."""
    return (_RANKS.get(row["target"], len(_RANKS)), row["to"], row["target"])


_RANKS = {"upstream": 0, "candidate": 1}
