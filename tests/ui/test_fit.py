"""Middle truncation for terminal tables."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from rich.cells import cell_len

from sentry_mirror.ui.fit import middle


@pytest.mark.parametrize(
    ("text", "width", "expected"),
    [
        ("/api/4505/envelope/", 40, "/api/4505/envelope/"),
        ("/api/4505/envelope/", 19, "/api/4505/envelope/"),
        ("/api/4505/envelope/", 11, "/api/…lope/"),
        ("exception.values.0.stacktrace.frames", 20, "exception.…ce.frames"),
        ("abc", 1, "…"),
        ("abc", 0, ""),
        ("漢字漢字漢字", 7, "漢…漢字"),  # wide characters are never split
    ],
)
def test_middle(text: str, width: int, expected: str) -> None:
    assert expected == middle(text, width)


@example("0" * 19 + "…" + "0" * 21, 40)
@given(st.text(), st.integers(min_value=0, max_value=60))
def test_middle_always_fits_and_keeps_both_ends(text: str, width: int) -> None:
    cut = middle(text, width)
    assert cell_len(cut) <= width
    if cut != text and width > 1:  # the text may hold "…" itself: one of them is the cut
        cuts = [i for i, char in enumerate(cut) if char == "…"]
        assert any(text.startswith(cut[:i]) and text.endswith(cut[i + 1 :]) for i in cuts), cut
