"""Results kept by key, bounded: what a hot path works out once per distinct input (a head a
server repeats, a set of headers) instead of at every request."""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(dict[K, V]):
    """At most ``entries`` results, each for an input of size at most ``largest`` (larger
    ones are worked out every time); when full, all are forgotten at once: hostile, ever
    changing input costs the work again, never memory."""

    def __init__(self, entries: int, largest: int) -> None:
        super().__init__()
        self.entries = entries
        self.largest = largest

    def keep(self, key: K, size: int, value: V) -> V:
        """``value`` for ``key``, kept when ``size`` is at most ``largest``; returned."""
        if size <= self.largest:
            if len(self) >= self.entries:
                self.clear()
            self[key] = value
        return value
