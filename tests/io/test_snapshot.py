"""Snapshot files: round trip, many frames, damage, versions, several writers."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import zstandard
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sentry_mirror.core.record import RECORD_VERSION
from sentry_mirror.errors import FormatVersionError, MirrorError, SnapshotError
from sentry_mirror.io.snapshot import SnapshotWriter, expand, iter_records, read_records


def rec(n: int, at: str = "2026-11-23T10:00:00.000000Z", **extra: Any) -> dict[str, Any]:
    return {"v": RECORD_VERSION, "id": f"{n:032x}", "received_at": at, "summary": {"event_id": None, "items": []}, **extra}


def frames(*groups: list[dict[str, Any]]) -> bytes:
    out = io.BytesIO()
    writer = SnapshotWriter(out)
    for group in groups:
        writer.write(group)
    return out.getvalue()


def read(data: bytes) -> tuple[list[str], list[str]]:
    warnings: list[str] = []
    ids = [r.id for r in read_records(io.BytesIO(data), name="f", on_warning=warnings.append)]
    return ids, warnings


def test_round_trip_over_many_frames() -> None:
    """Records come back in order across frames of different sizes."""
    data = frames(*[[rec(i * 10 + j) for j in range(i % 4 + 1)] for i in range(50)])
    ids, warnings = read(data)
    assert [f"{i * 10 + j:032x}" for i in range(50) for j in range(i % 4 + 1)] == ids
    assert [] == warnings


def test_the_file_is_plain_zstd_jsonl() -> None:
    """zstdcat (any zstd decoder reading across frames) gives one JSON object per line."""
    data = frames([rec(1), rec(2)], [rec(3)])
    text = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True).read()
    assert 3 == len(text.decode().splitlines())


@pytest.mark.parametrize("cut", [1, 5, 20])
def test_truncated_last_frame_keeps_every_whole_frame(cut: int) -> None:
    """A file cut inside its last frame (kill -9, full disk) reads up to the cut, with a warning."""
    data = frames([rec(1), rec(2)], [rec(3)], [rec(4), rec(5)])
    ids, warnings = read(data[:-cut])
    assert [f"{i:032x}" for i in (1, 2, 3)] == ids
    assert 1 == len(warnings)
    assert "the file ends inside a frame" in warnings[0]
    assert f"skipped {len(frames([rec(4), rec(5)])) - cut} bytes" in warnings[0]


def test_damage_in_the_middle_is_skipped_and_counted() -> None:
    """Garbage between frames is skipped; the warning says how many bytes and where."""
    first, second = frames([rec(1)]), frames([rec(2)])
    ids, warnings = read(first + b"GARBAGE!" * 3 + second)
    assert [f"{1:032x}", f"{2:032x}"] == ids
    assert [f"f: skipped 24 damaged bytes at offset {len(first)}"] == warnings


def test_a_corrupted_frame_is_skipped() -> None:
    """A frame whose bytes were flipped fails its checksum and is skipped; the next frame reads."""
    first, second, third = frames([rec(1)]), frames([rec(2)]), frames([rec(3)])
    damaged = bytearray(first + second + third)
    damaged[len(first) + len(second) // 2] ^= 0xFF
    ids, warnings = read(bytes(damaged))
    assert [f"{1:032x}", f"{3:032x}"] == ids
    assert [f"f: skipped {len(second)} damaged bytes at offset {len(first)}"] == warnings


def test_not_a_snapshot() -> None:
    """A file that is not zstd at all yields nothing and one warning covering all of it."""
    ids, warnings = read(b"this is not a snapshot\n" * 10)
    assert [] == ids
    assert ["f: skipped 230 damaged bytes at offset 0"] == warnings


def test_empty_file() -> None:
    assert ([], []) == read(b"")


def test_newer_format_version_is_refused_with_advice() -> None:
    """A record from a newer sentry-mirror stops the read with an 'upgrade' message."""
    with pytest.raises(FormatVersionError, match="upgrade sentry-mirror"):
        read(frames([rec(1), {**rec(2), "v": RECORD_VERSION + 1}]))


def test_a_line_without_version_is_skipped_with_a_warning() -> None:
    ids, warnings = read(frames([rec(1), {"hello": "world"}]))
    assert [f"{1:032x}"] == ids
    assert 1 == len(warnings) and "not a sentry-mirror record" in warnings[0]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000), st.integers(min_value=0, max_value=400))
@example(b"\x28\xb5\x2f\xfd", 0)
@example(b"\x28\xb5\x2f\xfd\x00\x00\x00\x00\x00\x00", 3)
def test_reader_raises_only_its_own_errors(noise: bytes, where: int) -> None:
    """Random bytes spliced into a valid snapshot: the reader warns or raises MirrorError, nothing else."""
    data = frames([rec(1), rec(2)], [rec(3)])
    where = min(where, len(data))
    try:
        read(data[:where] + noise + data[where:])
    except MirrorError:
        pass


def _write_file(path: Path, *groups: list[dict[str, Any]]) -> None:
    path.write_bytes(frames(*groups))


def test_iter_records_merges_writers_in_time_order(tmp_path: Path) -> None:
    """Two listeners sharing a directory: their records are merged by receive time."""
    a1 = tmp_path / "2026-11-23T10-00-00Z-hostA-1.jsonl.zst"
    a2 = tmp_path / "2026-11-23T10-05-00Z-hostA-1.jsonl.zst"
    b1 = tmp_path / "2026-11-23T10-01-00Z-hostB-2.jsonl.zst"
    _write_file(a1, [rec(1, "2026-11-23T10:00:01.000000Z"), rec(3, "2026-11-23T10:02:00.000000Z")])
    _write_file(a2, [rec(5, "2026-11-23T10:05:01.000000Z")])
    _write_file(b1, [rec(2, "2026-11-23T10:01:01.000000Z"), rec(4, "2026-11-23T10:03:00.000000Z")])
    assert [f"{i:032x}" for i in (1, 2, 3, 4, 5)] == [r.id for r in iter_records([tmp_path])]


def test_expand_files_directories_and_globs(tmp_path: Path) -> None:
    a = tmp_path / "2026-11-23T10-00-00Z-h-1.jsonl.zst"
    b = tmp_path / "2026-11-23T11-00-00Z-h-1.jsonl.zst"
    _write_file(a, [rec(1)])
    _write_file(b, [rec(2)])
    assert [a, b] == expand([tmp_path])
    assert [b] == expand([str(tmp_path / "*T11*")])
    assert [a] == expand([a, a])
    with pytest.raises(SnapshotError, match="no such snapshot file or directory"):
        expand([tmp_path / "missing.jsonl.zst"])
