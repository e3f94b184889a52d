"""The shared lenient JSON loader: what orjson refuses but SDKs send and Relay reads."""

from __future__ import annotations

import math

import pytest

from sentry_mirror.core import lenient


def test_nan_and_infinity_as_sentry_python_sends_them() -> None:
    value = lenient.loads(b'{"a": NaN, "b": Infinity, "c": -Infinity}')
    assert (True, math.inf, -math.inf) == (math.isnan(value["a"]), value["b"], value["c"])


@pytest.mark.parametrize("data", [b'{"a": 1}', '{"a": 1}', bytearray(b'{"a": 1}'), memoryview(b'{"a": 1}')])
def test_every_buffer_type(data: bytes | str) -> None:
    assert {"a": 1} == lenient.loads(data)


@pytest.mark.parametrize("data", [b"", b"{", b"\xff\xfe", b"[" * 100_000])
def test_unreadable_input_raises_value_error_or_gives_none(data: bytes) -> None:
    with pytest.raises(ValueError, match=r"."):
        lenient.loads(data)
    assert None is lenient.loads_or_none(data)
