"""A header line parsed in bounded memory, however long its strings.

orjson turns a 198 MiB JSON string into a 198 MiB str by way of a buffer of the same size
(twice the line, measured), holding the GIL throughout. A header line longer than
:data:`LEAN_ABOVE` is parsed here instead: each string longer than :data:`LONG_STRING` is
checked in pieces of :data:`PIECE` bytes (each piece a JSON string orjson reads: the same
escapes, UTF-8 and control characters refused as the whole would be), then the line is
parsed with that string cut to its first :data:`KEEP` bytes and ``…`` (a key cut so gets
the CRC-32 of its whole text too, so cut keys stay distinct, and equal keys equal). The value is what orjson would give, with
long strings cut; a line orjson would refuse raises ValueError.

A piece ends only where no escape can be split: before an ASCII byte with no backslash
in the 6 bytes before it. A string with no such place (escapes every few bytes) is checked
whole, costing what orjson costs.
"""

from __future__ import annotations

import zlib
from typing import Any

import orjson

#: Lines longer than this are parsed here (shorter ones by orjson directly).
LEAN_ABOVE = 1 << 20
#: Strings longer than this (bytes between the quotes) are checked in pieces and cut.
LONG_STRING = 1 << 16
#: Bytes of a string checked at once.
PIECE = 1 << 20
#: Bytes of a long string kept in the parsed value (about; cut where no escape is split).
KEEP = 1024
_BACKSLASH = 0x5C
_QUOTE = b'"'
_SPACE = b" \t\r\n"


#: Places a piece's end is looked for in, past its size, before the rest is checked whole.
_SEEK = 4096


def _cut_at(data: bytes, pos: int, low: int, high: int) -> int:
    """The first place in [pos, high) at or after ``pos`` where the string can be cut
    (see the module), or ``high``; never before ``low`` + 6, never past ``pos`` + 4096."""
    pos = max(pos, low + 6)
    limit = min(high, pos + _SEEK)
    while pos < limit:
        if data[pos] < 0x80 and data.rfind(b"\\", pos - 6, pos) < 0:
            return pos
        pos += 1
    return high


def _string_end(data: bytes, start: int, stop: int) -> int:
    """The offset of the quote closing the string whose opening quote is at ``start``."""
    pos = start + 1
    while True:
        end = data.find(_QUOTE, pos, stop)
        if end < 0:
            raise ValueError("unterminated string")
        run = 0
        while data[end - 1 - run] == _BACKSLASH:
            run += 1
        if run % 2 == 0:
            return end
        pos = end + 1


def _check(data: bytes, low: int, high: int) -> None:
    """Raise ValueError unless ``data[low:high]`` is a valid JSON string body."""
    pos = low
    while pos < high:
        cut = _cut_at(data, pos + PIECE, pos, high) if high - pos > PIECE else high
        orjson.loads(b'"' + data[pos:cut] + b'"')  # JSONDecodeError is a ValueError
        pos = cut


def _is_key(data: bytes, end: int, stop: int) -> bool:
    pos = end + 1
    while pos < stop and data[pos] in _SPACE:
        pos += 1
    return pos < stop and data[pos] == 0x3A


def loads(data: bytes, start: int, stop: int) -> Any:
    """``orjson.loads(data[start:stop])`` with long strings cut (see the module)."""
    return orjson.loads(reduced(data, start, stop))


def reduced(data: bytes, start: int, stop: int) -> bytes | memoryview:
    """The line ``data[start:stop]`` with its long strings cut, once checked (a view of
    it when it is no longer than :data:`LEAN_ABOVE`); ValueError for a bad string."""
    if stop - start <= LEAN_ABOVE:
        return memoryview(data)[start:stop]
    parts: list[bytes] = []
    pos = start
    while True:
        quote = data.find(_QUOTE, pos, stop)
        if quote < 0:
            break
        end = _string_end(data, quote, stop)
        if end - quote - 1 > LONG_STRING:
            _check(data, quote + 1, end)
            keep = _cut_at(data, quote + 1 + KEEP, quote + 1, end)
            mark = f"…{zlib.crc32(memoryview(data)[quote:end]):08x}" if _is_key(data, end, stop) else "…"
            parts += [data[pos:keep], mark.encode(), _QUOTE]
        else:
            parts.append(data[pos : end + 1])
        pos = end + 1
    parts.append(data[pos:stop])
    return b"".join(parts)
