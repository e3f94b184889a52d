"""Click parameter types: sizes, durations and replay speeds, with their units."""

from __future__ import annotations

import click
import pytest

from sentry_mirror.ui.params import Duration, Size, Speed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("65536", 65536),
        ("100MB", 100_000_000),
        ("200MiB", 200 * 1024 * 1024),
        ("64k", 64_000),
        ("1GiB", 1024**3),
        ("2 kib", 2048),
    ],
)
def test_size_option(text: str, expected: int) -> None:
    assert expected == Size().convert(text, None, None)


@pytest.mark.parametrize(
    ("text", "expected"), [("90s", 90.0), ("10m", 600.0), ("1h", 3600.0), ("1d", 86400.0), ("30", 30.0)]
)
def test_duration_option(text: str, expected: float) -> None:
    assert expected == Duration().convert(text, None, None)


@pytest.mark.parametrize("text", ["lots", "10 parsecs", "-5MB", ""])
def test_a_bad_size_fails_with_the_forms_it_takes(text: str) -> None:
    with pytest.raises(click.BadParameter, match="is not a size like 100MB, 200MiB or 65536"):
        Size().convert(text, None, None)


def test_a_bad_duration_fails_with_the_forms_it_takes() -> None:
    with pytest.raises(click.BadParameter, match="is not a duration like 90s, 10m, 1h or 1d"):
        Duration().convert("soon", None, None)


@pytest.mark.parametrize(("text", "expected"), [("max", None), ("MAX", None), ("1", 1.0), ("10", 10.0), ("0.5", 0.5)])
def test_speed(text: str, expected: float | None) -> None:
    assert expected == Speed().convert(text, None, None)


@pytest.mark.parametrize(("text", "message"), [("fast", "is not a speed"), ("0", "above 0"), ("-2", "above 0")])
def test_a_bad_speed(text: str, message: str) -> None:
    with pytest.raises(click.BadParameter, match=message):
        Speed().convert(text, None, None)
