"""Sizes and durations as users write them (the command line and scripts)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentry_mirror.core.units import parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [("65536", 65536), ("64k", 64000), ("100MB", 100_000_000), ("200MiB", 200 * 1024**2), ("1.5KiB", 1536), ("3b", 3)],
)
def test_sizes(text: str, size: int) -> None:
    assert size == parse_size(text)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90.0), ("90s", 90.0), ("250ms", 0.25), ("10m", 600.0), ("1h", 3600.0), ("1d", 86400.0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert seconds == parse_duration(text)


@pytest.mark.parametrize("text", ["", "lots", "5ib", "-1", "1 KB B"])
def test_a_bad_size_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(text)


@pytest.mark.parametrize("text", ["", "soon", "5w", "-1s"])
def test_a_bad_duration_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["9" * 400, "9" * 400 + "TiB", "9223372036854775808", "9300000t"])
def test_a_size_too_big_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="too big a size"):
        parse_size(text)


@pytest.mark.parametrize("text", ["9" * 400, "9" * 30 + "d", "1000000000", "20000000m"])
def test_a_duration_too_long_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="too long a duration"):
        parse_duration(text)


def test_the_largest_values_still_parse() -> None:
    assert 2**63 - 1024 == parse_size("9223372036854774784")
    assert 999_999_999.0 == parse_duration("999999999")


NUMBERISH = st.builds(
    "{}{}{}".format,
    st.from_regex(r"\d{1,400}(\.\d{1,20})?", fullmatch=True),
    st.sampled_from(["", " "]),
    st.sampled_from(["", "b", "k", "KiB", "MB", "GiB", "t", "TiB", "ms", "s", "m", "h", "d"]),
)


@given(st.one_of(st.text(max_size=20), NUMBERISH))
def test_any_text_is_a_bounded_size_or_a_value_error(text: str) -> None:
    for parse, bound in ((parse_size, 2**63), (parse_duration, 10**9)):
        try:
            assert 0 <= parse(text) < bound
        except ValueError:
            pass
