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
exactly: its sample is chosen by a fixed hash of the values, not by the order met. So
``report --jobs N`` (partial reports of windows of a capture, merged in order) gives what one
pass gives.
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

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
    """Count, total and maximum of a series, and a sample of it for percentiles that merges
    exactly. ``count`` may also count members without a value (a span with no duration).

    The sample holds the distinct values met with how often each was met, up to ``size``
    distinct values: then those of the lowest priority, a fixed hash of the value (so the
    values kept do not depend on the order met, or on how the series was split: a value
    kept is counted from its first time, as it was kept then). Percentiles weigh each
    value by its count: exact while the series has at most ``size`` distinct values. Held:
    at most twice ``size`` values (pruned to ``size`` when full). The total is summed in
    millionths (integers), so it does not depend on the order either.
    """

    __slots__ = ("below", "count", "counts", "maximum", "micros", "size")

    def __init__(self, size: int = RESERVOIR_SIZE) -> None:
        self.count = 0
        self.micros = 0
        self.maximum: float | None = None
        self.size = size
        self.counts: dict[float, int] = {}
        self.below: int | None = None  # once pruned: new values are kept only below this priority

    @property
    def total(self) -> float:
        return self.micros / 1_000_000

    def add(self, value: float) -> None:
        self.count += 1
        self.micros += round(value * 1_000_000)
        maximum = self.maximum
        if maximum is None or value > maximum:
            self.maximum = value
        counts = self.counts
        seen = counts.get(value)
        if seen is not None:
            counts[value] = seen + 1
        else:
            self._new(value, 1)

    def _new(self, value: float, times: int) -> None:
        if value != value:  # NaN: no sample value
            return
        if self.below is not None and _priority(value) >= self.below:
            return
        self.counts[value] = times
        if len(self.counts) >= 2 * self.size:
            self._prune()

    def _prune(self) -> None:
        """Keep the ``size`` values of the lowest priority (their counts are whole: see the class)."""
        kept = sorted(self.counts, key=_priority)[: self.size]
        self.counts = {value: self.counts[value] for value in kept}
        if len(kept) == self.size:
            self.below = _priority(kept[-1])

    def merge(self, other: Reservoir) -> None:
        """Add ``other``'s series: the same figures as one pass over both."""
        self.count += other.count
        self.micros += other.micros
        if other.maximum is not None and (self.maximum is None or other.maximum > self.maximum):
            self.maximum = other.maximum
        counts = self.counts
        for value, times in other.counts.items():
            seen = counts.get(value)
            if seen is not None:
                counts[value] = seen + times
            else:
                self._new(value, times)
                counts = self.counts
        if other.below is not None and (self.below is None or other.below < self.below):
            self.below = other.below  # ``size`` values of ``other`` are below it: none above is sampled

    def sample(self) -> list[tuple[float, int]]:
        """The values kept (the ``size`` of the lowest priority) with their counts, in order."""
        if len(self.counts) > self.size:
            self._prune()
        return sorted(self.counts.items())

    def percentile(self, fraction: float) -> float | None:
        """Linear interpolation between the closest ranks (as :func:`~sentry_mirror.core.stats.interpolated`)
        over the sample, each value counted as often as it was met."""
        ordered = self.sample()
        if not ordered:
            return None
        ends = list(itertools.accumulate(times for _, times in ordered))
        position = (ends[-1] - 1) * fraction
        low = int(position)
        below = ordered[bisect.bisect_right(ends, low)][0]
        above = ordered[bisect.bisect_right(ends, min(low + 1, ends[-1] - 1))][0]
        return below + (above - below) * (position - low)

    def to_json(self) -> Json:
        p50, p95 = self.percentile(0.5), self.percentile(0.95)
        return {
            "count": self.count,
            "p50": num(p50) if p50 is not None else None,
            "p95": num(p95) if p95 is not None else None,
            "max": num(self.maximum) if self.maximum is not None else None,
            "total": num(self.total),
        }


def _priority(value: float) -> int:
    """A fixed pseudo-random priority for a value (Python's hash of a number is not salted)."""
    return (hash(value) * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF


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
