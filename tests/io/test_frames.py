"""The frame index of a snapshot file (io/frames.py): found from zstd's frame and block
headers, each unit a whole frame (the checks header with the first), a damaged or
unfinished end one last unit; and the receive time of a frame's first record."""

from __future__ import annotations

from pathlib import Path

import zstandard

from sentry_mirror.core import checks
from sentry_mirror.io.frames import frame_index, head_time
from sentry_mirror.io.snapshot import SnapshotWriter
from tests.io.test_parallel import name, records, write


def test_every_frame_is_found_from_its_headers(tmp_path: Path) -> None:
    path = write(tmp_path / name("a"), records(60))
    index = frame_index(path)
    assert index.checked and not index.tail and len(index.units) > 5
    assert index.bounds[0] == 0 and index.bounds[-1] == path.stat().st_size
    data = path.read_bytes()
    assert data[: index.bounds[1]].startswith(checks.HEADER)  # the header goes with the first frame
    for start, end in index.units[1:]:
        assert data[start:end].startswith(b"\x28\xb5\x2f\xfd")
        lines = zstandard.ZstdDecompressor().decompressobj().decompress(data[start:end])
        checked, _, failed = checks.checked_prefix(lines, 0)  # a whole frame: every group mark in it
        assert not failed and checked == len(lines) and lines.endswith(b"\n")


def test_first_record_times(tmp_path: Path) -> None:
    items = records(60)
    path = write(tmp_path / name("a"), items)
    index = frame_index(path)
    times = [head_time(path, start, end) for start, end in index.units]
    assert times[0] == items[0]["received_at"] and times == sorted(times)
    assert set(times) <= {data["received_at"] for data in items}


def test_a_damaged_header_makes_the_rest_one_unit(tmp_path: Path) -> None:
    path = write(tmp_path / name("a"), records(60))
    whole = frame_index(path)
    data = bytearray(path.read_bytes())
    at = whole.units[3][0]
    data[at : at + 4] = b"XXXX"  # a frame magic lost
    path.write_bytes(bytes(data))
    index = frame_index(path)
    # the frame before the lost magic is not known to be whole (its end might be off): it starts the last unit
    before = whole.units[2][0]
    assert index.tail and index.bounds[:3] == whole.bounds[:3] and index.units[-1] == (before, len(data))
    assert head_time(path, at, len(data)) is None


def test_a_cut_file_and_an_open_frame(tmp_path: Path) -> None:
    path = write(tmp_path / name("a"), records(60))
    whole = frame_index(path)
    cut = tmp_path / name("b")
    cut.write_bytes(path.read_bytes()[: whole.units[4][0] + 10])
    index = frame_index(cut)
    assert index.tail and index.bounds == (
        *whole.bounds[:4],
        cut.stat().st_size,
    )  # the frame before the cut goes with it
    growing = tmp_path / name("c")
    with growing.open("wb") as fo:
        writer = SnapshotWriter(fo, frame_size=1 << 20)
        writer.write(records(5))  # flushed, never finished
    index = frame_index(growing)
    assert index.tail and index.units == [(0, growing.stat().st_size)]


def test_empty_and_foreign_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert frame_index(empty).units == [(0, 0)]
    text = tmp_path / "text"
    text.write_bytes(b"not zstd at all\n")
    index = frame_index(text)
    assert index.tail and not index.checked and index.units == [(0, 16)]
    plain = tmp_path / "plain"
    frames = [zstandard.ZstdCompressor().compress(b'{"a": %d}\n' % n) for n in range(3)]
    plain.write_bytes(b"".join(frames))
    index = frame_index(plain)
    assert not index.checked and not index.tail and len(index.units) == 3
