"""A bounded, seeded sample of a series of numbers of any length that merges exactly."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable


def _rank(value: float) -> int:
    """Where ``value`` stands in the sample's fixed random order: a stable hash of its bits
    (the same in every process, unlike ``hash``), with the value itself to break a tie."""
    bits = struct.pack("<d", float(value) + 0.0)  # -0.0 is 0.0, as it is as a dict key
    return int.from_bytes(hashlib.blake2b(bits, digest_size=8).digest(), "little")


class Sample:
    """A sample of at most ``size`` distinct values of a series, each with how many times
    it was seen; ``seen`` counts every value added.

    While the series has at most ``size`` distinct values they are all kept: :attr:`values`
    is the whole series (sorted) and its percentiles are exact. Beyond, the ``size``
    distinct values kept are the first in a fixed random order (a stable hash of the value,
    :func:`_rank`), each with every time it was seen: a uniform sample of the distinct
    values, weighted by how often each occurs. What is kept depends on the values added,
    never on their order, so :meth:`merged` gives exactly the sample a single pass over
    both series would have kept, however the series was cut (``--jobs``). A value repeated
    often is kept or left with all its repeats.

    Memory: at most ``2 * size`` distinct values between two trims."""

    __slots__ = ("counts", "limit", "seen", "size")

    def __init__(self, size: int) -> None:
        self.seen = 0
        self.size = size
        self.counts: dict[float, int] = {}
        self.limit: tuple[int, float] | None = None  # the rank a value needs to stay under, once trimmed

    def add(self, value: float) -> None:
        self.seen += 1
        if value != value:  # NaN: no place in an order
            return
        counts = self.counts
        if value in counts:
            counts[value] += 1
        elif self.limit is None or (_rank(value), value) < self.limit:
            counts[value] = 1
            if len(counts) >= 2 * self.size:
                self._trim()

    def _trim(self) -> None:
        """Keep the ``size`` values first in rank order; the next one's rank is the new limit."""
        if len(self.counts) <= self.size:
            return
        ranked = sorted(self.counts, key=lambda value: (_rank(value), value))
        self.limit = (_rank(ranked[self.size]), ranked[self.size])
        self.counts = {value: self.counts[value] for value in ranked[: self.size]}

    def merged(self, other: Sample) -> Sample:
        """The sample of ``self``'s series and ``other``'s together: exactly the one a single
        pass over both would keep (the two must have the same ``size``)."""
        merged = Sample(self.size)
        merged.seen = self.seen + other.seen
        limits = [limit for limit in (self.limit, other.limit) if limit is not None]
        merged.limit = min(limits) if limits else None
        counts = dict(self.counts)
        for value, n in other.counts.items():
            counts[value] = counts.get(value, 0) + n
        if merged.limit is not None:  # what the other side could not see past its limit goes too
            limit = merged.limit
            counts = {value: n for value, n in counts.items() if (_rank(value), value) < limit}
        merged.counts = counts
        if len(counts) >= 2 * self.size:
            merged._trim()
        return merged

    def kept(self) -> list[tuple[float, int]]:
        """The values kept, ascending, each with how many times it was seen."""
        self._trim()
        return sorted(self.counts.items())

    @property
    def values(self) -> list[float]:
        """The values kept, ascending, each as many times as it was seen."""
        return [value for value, n in self.kept() for _ in range(n)]

    def quantile(self, fraction: float) -> float | None:
        """The ``fraction`` percentile of the values kept (each as many times as it was seen),
        interpolated as :func:`~sentry_mirror.core.stats.interpolated`; None when empty."""
        kept = self.kept()
        total = sum(n for _, n in kept)
        if not total:
            return None
        position = (total - 1) * fraction
        low = int(position)
        high = min(low + 1, total - 1)
        below, above = _nth(kept, low), _nth(kept, high)
        return below + (above - below) * (position - low)


def _nth(kept: Iterable[tuple[float, int]], index: int) -> float:
    """The ``index``-th value (from 0) of the series ``kept`` stands for."""
    for value, n in kept:
        if index < n:
            return value
        index -= n
    raise IndexError(index)
