"""The two percentile definitions: interpolated for sizes and durations, nearest rank for replay latencies."""

from __future__ import annotations

from sentry_mirror.core.stats import interpolated, interpolated_counts, nearest_rank


def test_interpolated_between_ranks() -> None:
    assert (10, 25.0, 38.5, 40) == (
        interpolated([10], 0.5),
        interpolated([10, 20, 30, 40], 0.5),
        interpolated([10, 20, 30, 40], 0.95),
        interpolated([10, 20, 30, 40], 1),
    )


def test_nearest_rank_is_an_observed_value() -> None:
    assert (None, 1.0, 3.0, 3.0) == (
        nearest_rank([], 50),
        nearest_rank([3.0, 1.0], 50),
        nearest_rank([3.0, 1.0], 51),
        nearest_rank([3.0, 1.0], 100),
    )


def test_interpolated_counts_is_interpolated_over_the_values_repeated() -> None:
    pairs = [(1.0, 3), (2.5, 1), (7.0, 4), (9.0, 2)]
    values = [value for value, times in pairs for _ in range(times)]
    for fraction in (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0):
        assert interpolated_counts(pairs, fraction) == interpolated(values, fraction)
    assert interpolated_counts([(4.0, 1)], 0.5) == 4.0
