"""A bounded sample of a series of numbers of any length that merges exactly: the one sample
``group`` (transaction durations) and the report (:class:`~sentry_mirror.core.report.bounded.Reservoir`) keep."""

from __future__ import annotations

import heapq

from sentry_mirror.core.stats import interpolated_counts


def _priority(value: float) -> int:
    """A fixed pseudo-random priority for a value: the same in every process (Python's hash
    of a number is not salted, and is the same for ``1`` and ``1.0``, as a dict key is)."""
    return (hash(value) * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF


class Sample:
    """The distinct values of a series with how often each was met, up to ``size`` distinct
    values; past that, the ``size`` first in a fixed order (:func:`_priority`, then the
    value), each with every time it was met. ``seen`` counts every value added.

    What is kept depends on the values met, never on their order or on how the series was
    cut: :meth:`merge` gives exactly what one pass over both series gives (``--jobs``). A
    value dropped never comes back (it is past every value kept since), so a value kept is
    counted from its first time. Percentiles (:meth:`quantile`) weigh each value by its
    count: exact while the series has at most ``size`` distinct values; past that, from a
    uniform sample of the distinct values (a value repeated very often is kept or left with
    all its repeats)."""

    __slots__ = ("counts", "heap", "seen", "size")

    def __init__(self, size: int) -> None:
        self.seen = 0
        self.size = size
        self.counts: dict[float, int] = {}
        self.heap: list[tuple[int, float]] = []  # (-priority, -value) of the values kept, once full

    def __reduce__(self) -> tuple[object, ...]:  # the heap is rebuilt, not pickled (partials cross processes)
        return _sample, (self.size, self.seen, self.counts)

    def add(self, value: float) -> None:
        self.seen += 1
        self._keep(value, 1)

    def _keep(self, value: float, times: int) -> None:
        counts = self.counts
        seen = counts.get(value)
        if seen is not None:
            counts[value] = seen + times
        elif value != value:  # NaN: no place in an order
            return
        elif len(counts) < self.size:
            counts[value] = times
            if len(counts) == self.size:
                self._heapify()
        elif (key := (-_priority(value), -value)) > self.heap[0]:  # before the last one kept
            _, dropped = heapq.heapreplace(self.heap, key)
            del counts[-dropped]
            counts[value] = times

    def _heapify(self) -> None:
        self.heap = [(-_priority(v), -v) for v in self.counts]
        heapq.heapify(self.heap)

    def merge(self, other: Sample) -> None:
        """Add ``other``'s series (the same ``size``), as if read after this one's."""
        self.seen += other.seen
        for value, times in other.counts.items():
            self._keep(value, times)

    @property
    def values(self) -> list[float]:
        """The values kept, ascending, each as many times as it was met."""
        return [value for value, n in sorted(self.counts.items()) for _ in range(n)]

    def quantile(self, fraction: float) -> float | None:
        """The ``fraction`` percentile of the values kept, each counted as often as it was
        met, interpolated as :func:`~sentry_mirror.core.stats.interpolated`; None when empty."""
        if not self.counts:
            return None
        return interpolated_counts(sorted(self.counts.items()), fraction)


def _sample(size: int, seen: int, counts: dict[float, int]) -> Sample:
    sample = Sample(size)
    sample.seen = seen
    sample.counts = counts
    if len(counts) == size:
        sample._heapify()
    return sample
