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


@pytest.mark.parametrize(
    "number",
    [123456789012345678901234567890, -123456789012345678901234567890, -(2**63) - 1, 2**64, 2**64 - 1, -(2**63)],
)
@pytest.mark.parametrize("kind", [bytes, str, bytearray, memoryview])
def test_integers_beyond_64_bits_stay_exact(number: int, kind: type) -> None:
    text = f'{{"n": {number}, "list": [{number}]}}'
    data = text if kind is str else kind(text.encode())
    value = lenient.loads(data)
    assert (int, number, number) == (type(value["n"]), value["n"], value["list"][0])
