"""Bounded aggregates shared by the report's sections, and how each merges with another.

:class:`Capped` counts at most ``limit`` distinct keys (the first met); :class:`Reservoir`
keeps count, total and maximum of a series and a sample of it for percentiles;
:func:`bounded` gives per-key tables (item types, SDKs, span ops, monitors) a row limit,
the rest going to :data:`OTHER`.

Merging (``merge``) combines an aggregate with another of its kind that was fed other
records. For a :class:`Capped`, the keys kept are those reading the records of ``self`` then
those of ``other`` would have kept (the first met), and the counts are that pass's unless
``other`` is ``truncated``: then a key of ``self`` that ``other`` met only past its limit
misses those counts (a part with more than ``limit`` keys of its own that another part has
too: not counters of time, whose parts hold other minutes). A :class:`Reservoir` merges
exactly: its sample (:class:`~sentry_mirror.core.grouping.sample.Sample`, the one ``group``
keeps too) is chosen by a fixed hash of the values, not by the order met. So
``report --jobs N`` (partial reports of windows of a capture, merged in order) gives what one
pass gives.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sentry_mirror.core.grouping import Sample

#: Distinct keys per counter (endpoints, SDKs, minutes, headers …); further keys are not counted.
MAX_KEYS = 10_080  # a week of minutes
#: Values kept for percentiles per size or duration series.
RESERVOIR_SIZE = 10_000
#: The row of a per-key table that counts the keys past its limit together.
OTHER = "(other)"

Json = dict[str, Any]
T = TypeVar("T")


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

    def __reduce__(self) -> Any:  # Counter's own drops the limit (partial reports cross processes)
        return _capped, (self.limit, self.truncated, dict(self))

    def merge(self, other: Capped) -> None:
        """Add ``other``'s counts, its keys after this one's (as if read after)."""
        for key, n in other.items():
            self.add(key, n)
        self.truncated = self.truncated or other.truncated


def _capped(limit: int, truncated: bool, counts: dict[str, int]) -> Capped:
    capped = Capped(limit)
    capped.update(counts)
    capped.truncated = truncated
    return capped


class Reservoir:
    """Count, total and maximum of a series, and a :class:`~sentry_mirror.core.grouping.sample.Sample`
    of it for percentiles that merges exactly. ``count`` may also count members without a
    value (a span with no duration). The total is summed in millionths (integers), so it
    does not depend on the order either.
    """

    __slots__ = ("count", "kept", "maximum", "micros")

    def __init__(self, size: int = RESERVOIR_SIZE) -> None:
        self.count = 0
        self.micros = 0
        self.maximum: float | None = None
        self.kept = Sample(size)

    @property
    def total(self) -> float:
        return self.micros / 1_000_000

    def add(self, value: float) -> None:
        self.count += 1
        self.micros += round(value * 1_000_000)
        maximum = self.maximum
        if maximum is None or value > maximum:
            self.maximum = value
        self.kept.add(value)

    def merge(self, other: Reservoir) -> None:
        """Add ``other``'s series: the same figures as one pass over both."""
        self.count += other.count
        self.micros += other.micros
        if other.maximum is not None and (self.maximum is None or other.maximum > self.maximum):
            self.maximum = other.maximum
        self.kept.merge(other.kept)

    def sample(self) -> list[tuple[float, int]]:
        """The values kept with their counts, in order."""
        return sorted(self.kept.counts.items())

    def percentile(self, fraction: float) -> float | None:
        """The ``fraction`` percentile of the sample (:meth:`~sentry_mirror.core.grouping.sample.Sample.quantile`)."""
        return self.kept.quantile(fraction)

    def to_json(self) -> Json:
        p50, p95 = self.percentile(0.5), self.percentile(0.95)
        return {
            "count": self.count,
            "p50": num(p50) if p50 is not None else None,
            "p95": num(p95) if p95 is not None else None,
            "max": num(self.maximum) if self.maximum is not None else None,
            "total": num(self.total),
        }


def merge_tables(mine: dict[str, T], theirs: Mapping[str, T], limit: int, make: Callable[[], T],
                 merge: Callable[[T, T], None]) -> None:  # fmt: skip
    """Merge a per-key table (see :func:`bounded`) into another: keys past ``limit`` merge into :data:`OTHER`."""
    for key, value in theirs.items():
        merge(bounded(mine, key, limit, make), value)


def bounded(table: dict[str, Any], key: str, limit: int, make: Any) -> Any:
    """``table[key]``, made with ``make()`` if new; beyond ``limit`` keys, ``table[OTHER]``."""
    value = table.get(key)
    if value is None:
        if len(table) >= limit:
            key = OTHER
            value = table.get(key)
        if value is None:
            value = table[key] = make()
    return value


def num(value: float) -> float | int:
    value = round(value, 3)
    return int(value) if value == int(value) else value


def share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def by_count(counter: Mapping[str, int]) -> dict[str, int]:
    """The counter as a dict, most frequent first (then by key)."""
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))
