"""Group marks: a CRC-32 in whitespace at the end of a group's last line."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from sentry_mirror.core import checks


@given(st.integers(0, 2**32 - 1))
def test_a_mark_reads_back_and_is_whitespace(crc: int) -> None:
    mark = checks.mark(crc)
    assert checks.MARK_SIZE == len(mark) and set(mark) <= {0x09, 0x20}
    assert crc == checks.read_mark(mark + b"\n", 0)


def test_a_mark_with_another_character_or_no_newline_is_no_mark() -> None:
    mark = checks.mark(0xDEADBEEF)
    assert checks.read_mark(mark[:-1] + b"_\n", 0) is None
    assert checks.read_mark(mark + b" ", 0) is None


def test_marked_lines_are_still_json() -> None:
    line, _ = checks.mark_group(orjson.dumps({"a": 1}) + b"\n", 0)
    assert {"a": 1} == orjson.loads(line)


def test_checked_prefix_stops_at_the_first_group_that_fails() -> None:
    groups, crc = [], 0
    for n in range(3):
        marked, crc = checks.mark_group(orjson.dumps({"n": n}) + b"\n" + orjson.dumps({"m": n}) + b"\n", crc)
        groups.append(marked)
    data = b"".join(groups)
    assert (len(data), crc, False) == checks.checked_prefix(data, 0)
    altered = data.replace(b'{"n":2}', b'{"n":3}')
    end, _, failed = checks.checked_prefix(altered, 0)
    assert (len(groups[0]) + len(groups[1]), True) == (end, failed)
    cut = data[: len(data) - 5]  # the last mark not all there yet: no failure, just not checked
    assert (len(groups[0]) + len(groups[1]), False) == checks.checked_prefix(cut, 0)[::2]
