"""A uniform, seeded sample of a series of numbers of any length (a reservoir)."""

from __future__ import annotations

import math
import random


class Sample:
    """A uniform sample of at most ``size`` values of a series, seeded: the same input gives
    the same sample. ``seen`` counts every value added.

    Li's algorithm L: once the sample is full, the number of values to pass over before the
    next one is kept is drawn at once, so a long series costs a comparison per value, not a
    random number."""

    __slots__ = ("next", "random", "seen", "size", "values", "weight")

    def __init__(self, size: int) -> None:
        self.seen = 0
        self.size = size
        self.values: list[float] = []
        self.random: random.Random | None = None  # made when the sample first overflows: most never do
        self.weight = 0.0
        self.next = size  # the index (in ``seen``) of the next value that may be kept

    def add(self, value: float) -> None:
        seen = self.seen
        self.seen = seen + 1
        if seen < self.size:
            self.values.append(value)
        elif seen >= self.next:
            self._keep(seen, value)

    def _keep(self, seen: int, value: float) -> None:
        if self.random is None:
            self.random = random.Random(0)
            self.weight = self._draw_weight()
            self.next = seen + self._gap()
        if seen == self.next:
            self.values[self.random.randrange(self.size)] = value
            self.weight *= self._draw_weight()
            self.next = seen + 1 + self._gap()

    def merged(self, other: Sample) -> Sample:
        """One sample of what both have seen: every value while they fit in ``size``; else
        ``size`` values drawn (seeded) from the two, each in proportion to what it saw: a
        uniform sample of both, not the one a single pass would have kept."""
        merged = Sample(self.size)
        merged.seen = self.seen + other.seen
        if merged.seen <= self.size:
            merged.values = self.values + other.values
            return merged
        rng = random.Random(0)
        mine = max(self.size - len(other.values), min(round(self.size * self.seen / merged.seen), len(self.values)))
        merged.values = rng.sample(self.values, mine) + rng.sample(
            other.values, min(self.size - mine, len(other.values))
        )
        merged.next = merged.seen  # the next value added may be kept, as in a full sample
        return merged

    def _draw_weight(self) -> float:
        assert self.random is not None
        return math.exp(math.log(self.random.random() or _TINY) / self.size)

    def _gap(self) -> int:
        """How many values to pass over before the next one is kept."""
        assert self.random is not None
        if self.weight >= 1.0:
            return 0
        return int(math.log(self.random.random() or _TINY) / math.log1p(-self.weight))


_TINY = 5e-324  # random() can return 0.0, whose logarithm does not exist
