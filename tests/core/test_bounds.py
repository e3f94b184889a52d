"""``bounds``: what a record's summary keeps of an envelope's headers."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from sentry_mirror.core import bounds


def test_a_small_header_is_kept_as_it_is() -> None:
    header = {"event_id": "9ec79c33ec9942ab8353589fcb2e04dc", "sdk": {"name": "sentry.python", "version": "2.0"}}
    kept, cut = bounds.header(header)
    assert kept is header and not cut
    assert bounds.small(header)


def test_long_strings_are_cut_with_an_ellipsis() -> None:
    long = "x" * (bounds.MAX_HEADER_STRING + 10)
    kept, cut = bounds.header({"a": long, "b": [long], "c": {"d": long}})
    assert cut
    assert "x" * bounds.MAX_HEADER_STRING + "…" == kept["a"] == kept["b"][0] == kept["c"]["d"]


def test_a_long_key_is_cut_too() -> None:
    key = "k" * (bounds.MAX_HEADER_STRING + 1)
    kept, cut = bounds.header({key: 1})
    assert cut and ["k" * bounds.MAX_HEADER_STRING + "…"] == list(kept)


def test_keys_and_entries_are_counted_together_at_every_depth() -> None:
    header = {"list": list(range(bounds.MAX_HEADER_NODES)), "more": {str(i): i for i in range(10)}}
    kept, cut = bounds.header(header)
    assert cut
    assert bounds.MAX_HEADER_NODES == 1 + len(kept["list"]) + len(kept.get("more", {})) + ("more" in kept)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return {"deep": value}


def test_deep_values_become_null_past_the_depth_kept() -> None:
    kept, cut = bounds.header(_nested(bounds.MAX_HEADER_DEPTH + 5))
    assert cut
    depth, value = 0, kept["deep"]
    while isinstance(value, list):
        depth, value = depth + 1, value[0]
    assert (bounds.MAX_HEADER_DEPTH - 1, None) == (depth, value)


def test_nothing_cut_gives_back_the_header_itself() -> None:
    header = {f"k{i}": i for i in range(40)}  # not small (over 16 keys), but within the bounds
    assert not bounds.small(header)
    kept, cut = bounds.header(header)
    assert kept is header and not cut


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=5),
    max_leaves=40,
)


@settings(max_examples=100, deadline=None)
@given(_json, st.integers(0, 900))
def test_what_orjson_parsed_is_always_written_back_once_bounded(value: Any, depth: int) -> None:
    """The summary relies on it (core/record.py has no repair for headers): a header line
    orjson reads, however deep (orjson reads 1024 levels, writes 254), is written once bounded."""
    line = orjson.dumps({"v": value}).decode()
    line = "[" * depth + line + "]" * depth
    header = orjson.loads(f'{{"h": {line}}}')
    kept, _ = bounds.header(header)
    assert orjson.loads(orjson.dumps(kept)) == kept
