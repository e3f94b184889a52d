"""core/leanjson.py: long header lines parsed as orjson would, long strings cut."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentry_mirror.core import leanjson

LONG = leanjson.LONG_STRING + 10


def _loads(line: bytes) -> object:
    return leanjson.loads(b"##" + line + b"##", 2, 2 + len(line))


@pytest.fixture(autouse=True)
def _small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines and pieces small enough for many examples (the logic does not depend on size)."""
    monkeypatch.setattr(leanjson, "LEAN_ABOVE", 64)
    monkeypatch.setattr(leanjson, "LONG_STRING", 48)
    monkeypatch.setattr(leanjson, "PIECE", 16)
    monkeypatch.setattr(leanjson, "KEEP", 8)


def test_long_values_and_keys_are_cut_short_values_kept() -> None:
    line = orjson.dumps({"event_id": "a" * 32, "x": "A" * 100, "B" * 100: 1, "n": [1, {"y": "é" * 60}]})
    value = _loads(line)
    assert isinstance(value, dict)
    assert value["event_id"] == "a" * 32 and value["x"].startswith("AAAAAAAA") and value["x"].endswith("…")
    assert len(value["x"]) < 20 and value["n"][0] == 1 and value["n"][1]["y"].startswith("é")
    (key,) = [k for k in value if k.startswith("BBB")]
    assert key.startswith("BBBBBBBB…") and 1 == value[key]


def test_equal_long_keys_stay_equal_and_different_ones_different() -> None:
    same = b'{"' + b"K" * 100 + b'":1,"' + b"K" * 100 + b'":2}'
    other = b'{"' + b"K" * 100 + b'":1,"' + b"K" * 99 + b'L":2}'
    assert 1 == len(_loads(same))  # as orjson: the last one kept (strict parsing refuses it)
    assert 2 == len(_loads(other))


@pytest.mark.parametrize(
    "line",
    [
        b'{"x":"' + b"A" * 100 + b'\x01"}',  # a control character
        b'{"x":"' + b"A" * 100 + b'\\q"}',  # a bad escape
        b'{"x":"' + b"A" * 100 + b'\xff"}',  # not UTF-8
        b'{"x":"' + b"A" * 100 + b'\\ud800"}',  # a lone surrogate
        b'{"x":"' + b"A" * 100,  # unterminated
        b'{"x":"' + b"A" * 100 + b'" "y"}',  # no colon
        b'{"x":"' + b"A" * 100 + b'"} x',  # trailing
    ],
)
def test_what_orjson_refuses_is_refused(line: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(line)
    with pytest.raises(ValueError):
        _loads(line)


_TOKENS = [*'aAé\\"\n\x01𝄞u', "\\u00e9", "\\ud834\\udd1e", "\\ud834", "\\n", "\\\\", "a" * 20]
_TEXT = st.lists(st.sampled_from(_TOKENS), max_size=40).map("".join)


@settings(max_examples=300)
@given(st.lists(st.tuples(_TEXT, _TEXT), max_size=4))
def test_it_accepts_and_refuses_as_orjson_does(pairs: list[tuple[str, str]]) -> None:
    """Strings whose text is raw JSON (escapes or not, valid or not): whole lines
    accepted or refused as orjson does; values equal where not cut."""
    line = b"{" + b",".join(b'"' + k.encode() + b'":"' + v.encode() + b'"' for k, v in pairs) + b"}"
    line += b" " * max(0, 70 - len(line))
    try:
        expected = orjson.loads(line)
    except orjson.JSONDecodeError:
        with pytest.raises(ValueError):
            _loads(line)
        return
    got = _loads(line)
    assert isinstance(got, dict) and isinstance(expected, dict)
    for key, value in got.items():
        if "…" not in key:
            assert value == expected[key] or (value.endswith("…") and expected[key].startswith(value[:-1]))
