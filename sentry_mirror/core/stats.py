"""Statistics shared by the report, grouping and replay: the two percentile definitions in use.

``interpolated`` is numpy's default (linear between the closest ranks) and describes sizes
and durations in ``report`` and ``group``; ``nearest_rank`` is a value that was actually
observed, which is what replay's latency lines promise ("p99 was 12 ms": one request took it).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence


def interpolated(ordered: Sequence[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default), over sorted values."""
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def interpolated_counts(ordered: Sequence[tuple[float, int]], fraction: float) -> float:
    """:func:`interpolated` over values given as ``(value, times met)`` pairs in ascending
    order (not empty): what it gives on each value repeated that many times, without the list."""
    ends = list(itertools.accumulate(times for _, times in ordered))
    position = (ends[-1] - 1) * fraction
    low = int(position)
    below = ordered[bisect.bisect_right(ends, low)][0]
    above = ordered[bisect.bisect_right(ends, min(low + 1, ends[-1] - 1))][0]
    return below + (above - below) * (position - low)


def nearest_rank(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile ``q`` (0-100) of ``values`` (any order), None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]
