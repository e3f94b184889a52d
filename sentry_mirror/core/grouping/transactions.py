"""Transactions grouped by name and op (:func:`group_transactions`), with duration
percentiles over a bounded, seeded sample of :data:`RESERVOIR_SIZE` distinct durations per group."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sentry_mirror.core.grouping.groups import MAX_GROUPS, OTHER_GROUPS, jsonable
from sentry_mirror.core.grouping.records import TRANSACTION, RecordLike, each_event
from sentry_mirror.core.grouping.sample import Sample
from sentry_mirror.core.malformed import Malformed
from sentry_mirror.core.record import parse_time

#: Durations kept per transaction group: percentiles are exact up to this many
#: transactions, then computed over a uniform random sample of this size.
RESERVOIR_SIZE = 10_000
UNNAMED_TRANSACTION = "<unnamed transaction>"
#: The transactions (what :func:`group_transactions` groups).
TRANSACTIONS = frozenset({TRANSACTION})

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _microseconds(value: Any) -> int | None:
    """A timestamp (unix seconds or RFC 3339) as integer microseconds since the epoch."""
    kind = type(value)
    if kind is float or kind is int:  # the common case, first: spans carry two each
        return round(value * 1_000_000) if -1e12 < value < 1e12 else None  # NaN and infinities fail both
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return round(value * 1_000_000) if math.isfinite(value) and abs(value) < 1e12 else None
    if isinstance(value, str):
        if len(value) >= 10 and value[4] == "-":
            # RFC 3339, as sentry-python writes them: read as a date first (a failed float()
            # costs an exception); a number with a "-" there ("  1e-5") is read below
            micros = _iso_microseconds(value)
            if micros is not None:
                return micros
        try:
            number = float(value)
        except ValueError:
            return _iso_microseconds(value)
        return round(number * 1_000_000) if -1e12 < number < 1e12 else None  # "nan", "inf" fail both
    return None


def _iso_microseconds(text: str) -> int | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def duration_ms(transaction: Mapping[str, Any]) -> float | None:
    """``timestamp - start_timestamp`` in milliseconds (exact to the microsecond); None
    when either is missing or unreadable, or when it ends before it starts."""
    start = _microseconds(transaction.get("start_timestamp"))
    end = _microseconds(transaction.get("timestamp"))
    if start is None or end is None or end < start:
        return None
    return (end - start) / 1000


@dataclass(frozen=True, slots=True)
class TransactionGroup:
    """Transactions of one name and op. ``durations`` counts those with a readable duration;
    ``p50_ms``/``p95_ms`` are exact while at most :data:`RESERVOIR_SIZE` durations differ,
    estimated from a sample beyond that (:class:`Sample`; None when no duration was readable)."""

    name: str
    op: str | None
    count: int
    durations: int
    p50_ms: float | None
    p95_ms: float | None
    first_seen: datetime
    last_seen: datetime

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times as RFC 3339 ``…Z`` strings)."""
        return {item.name: jsonable(getattr(self, item.name)) for item in fields(self)}


class _TransactionBuilder:
    __slots__ = ("count", "durations", "first_seen", "last_seen")

    def __init__(self, size: int) -> None:
        self.count = 0
        self.durations = Sample(size)
        self.first_seen = self.last_seen = ""

    def add(self, transaction: Mapping[str, Any], received: str) -> None:
        self.count += 1
        if received and (not self.first_seen or received < self.first_seen):
            self.first_seen = received
        self.last_seen = max(self.last_seen, received)
        duration = duration_ms(transaction)
        if duration is not None:
            self.durations.add(duration)

    def merge(self, other: _TransactionBuilder) -> None:
        self.count += other.count
        if other.first_seen and (not self.first_seen or other.first_seen < self.first_seen):
            self.first_seen = other.first_seen
        self.last_seen = max(self.last_seen, other.last_seen)
        self.durations.merge(other.durations)


def _transaction_key(transaction: Mapping[str, Any]) -> tuple[str, str | None]:
    name = transaction.get("transaction")
    contexts = transaction.get("contexts")
    trace = contexts.get("trace") if isinstance(contexts, dict) else None
    op = trace.get("op") if isinstance(trace, dict) else None
    return (
        name if isinstance(name, str) and name else UNNAMED_TRANSACTION,
        op if isinstance(op, str) and op else None,
    )


def group_transactions(
    records: Iterable[RecordLike],
    *,
    reservoir: int = RESERVOIR_SIZE,
    max_groups: int = MAX_GROUPS,
    malformed: Malformed | None = None,
) -> list[TransactionGroup]:
    """Transactions grouped by (name, ``contexts.trace.op``), most frequent first (then by
    name and op), with duration percentiles. One pass; each group keeps a reservoir of at
    most ``reservoir`` durations, so memory does not grow with the number of transactions;
    past ``max_groups`` names, new ones are counted together under :data:`OTHER_GROUPS`."""
    grouper = TransactionGrouper(reservoir, max_groups)
    grouper.feed(records, malformed)
    return grouper.groups()


class TransactionGrouper:
    """Groups transactions pushed one at a time (``add``) by name and op; ``groups()`` at the
    end. :func:`group_transactions` and the report use it."""

    def __init__(self, reservoir: int = RESERVOIR_SIZE, max_groups: int = MAX_GROUPS) -> None:
        self.reservoir = reservoir
        self.max_groups = max_groups
        self.builders: dict[tuple[str, str | None], _TransactionBuilder] = {}

    def add(self, transaction: Mapping[str, Any], received_at: str) -> None:
        self._builder(_transaction_key(transaction)).add(transaction, received_at)

    def _builder(self, key: tuple[str, str | None]) -> _TransactionBuilder:
        """The builder of ``key``'s group; past ``max_groups`` names, the :data:`OTHER_GROUPS` one."""
        builder = self.builders.get(key)
        if builder is None:
            if len(self.builders) >= self.max_groups:
                key = (OTHER_GROUPS, None)
                builder = self.builders.get(key)
            if builder is None:
                builder = self.builders[key] = _TransactionBuilder(self.reservoir)
        return builder

    @property
    def truncated(self) -> bool:
        """Whether past ``max_groups`` names some went to :data:`OTHER_GROUPS`: then a merge
        may count a name there that a single pass would have counted in its own group."""
        return (OTHER_GROUPS, None) in self.builders

    def feed(self, records: Iterable[RecordLike], malformed: Malformed | None = None) -> None:
        """Add the transactions of ``records``; records that cannot be read are counted in
        ``malformed`` (the one feeding rule of :func:`group_transactions` and ``group --jobs``)."""
        each_event(records, TRANSACTIONS, lambda event, data: self.add(event, data.get("received_at") or ""), malformed)

    def merge(self, other: TransactionGrouper) -> None:
        """Add ``other``'s transactions (read after this one's): exactly what a single pass
        would have given, unless either is :attr:`truncated`."""
        for key, theirs in other.builders.items():
            self._builder(key).merge(theirs)

    def groups(self) -> list[TransactionGroup]:
        groups = []
        for (name, op), builder in self.builders.items():
            p50, p95 = builder.durations.quantile(0.5), builder.durations.quantile(0.95)
            groups.append(
                TransactionGroup(
                    name=name,
                    op=op,
                    count=builder.count,
                    durations=builder.durations.seen,
                    p50_ms=round(p50, 3) if p50 is not None else None,
                    p95_ms=round(p95, 3) if p95 is not None else None,
                    first_seen=parse_time(builder.first_seen),
                    last_seen=parse_time(builder.last_seen),
                )
            )
        groups.sort(key=lambda group: (-group.count, group.name, group.op or ""))
        return groups
