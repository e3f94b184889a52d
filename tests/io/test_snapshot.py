"""Snapshot files: round trip, many frames, damage, versions, several writers."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sentry_mirror.core.encoding import ZSTD_MAGIC_BYTES
from sentry_mirror.core.record import RECORD_VERSION
from sentry_mirror.errors import FormatVersionError, MirrorError, SnapshotError
from sentry_mirror.io.snapshot import RecordDecoder, SnapshotWriter, expand, iter_records, read_records


def rec(n: int, at: str = "2026-11-23T10:00:00.000000Z", **extra: Any) -> dict[str, Any]:
    """A whole record (readers skip one without the fields the listener writes)."""
    return {**_TEMPLATE, "id": f"{n:032x}", "received_at": at, **extra}


_TEMPLATE = {  # small, as the tests of damage count records per compressed byte
    "v": RECORD_VERSION, "remote_addr": None, "method": "POST", "path": "/", "query": "", "headers": [],
    "endpoint": "unknown", "project_id": None, "auth": None, "content_encoding": None, "wire_size": 0, "body_size": 0,
    "body": "", "body_base64": False, "summary": {"event_id": None, "items": []}, "error": None,
    "response": {"status": 404, "headers": [], "body": "", "body_base64": False},
}  # fmt: skip


def frames(*groups: list[dict[str, Any]], frame_size: int = 1 << 20, finish: bool = True) -> bytes:
    """A snapshot written group by group, as the recorder writes it."""
    out = io.BytesIO()
    writer = SnapshotWriter(out, frame_size=frame_size)
    for group in groups:
        writer.write(group)
    if finish:
        writer.close()
    return out.getvalue()


def read(data: bytes) -> tuple[list[str], list[str]]:
    warnings: list[str] = []
    ids = [r.id for r in read_records(io.BytesIO(data), name="f", on_warning=warnings.append)]
    return ids, warnings


def ids(*numbers: int) -> list[str]:
    return [f"{n:032x}" for n in numbers]


def test_round_trip_over_many_groups_and_frames() -> None:
    """Records come back in order across groups of different sizes and several frames."""
    groups = [[rec(i * 10 + j) for j in range(i % 4 + 1)] for i in range(50)]
    data = frames(*groups, frame_size=1000)
    assert data.count(ZSTD_MAGIC_BYTES) > 3
    assert (ids(*(i * 10 + j for i in range(50) for j in range(i % 4 + 1))), []) == read(data)


def test_the_file_is_plain_zstd_jsonl() -> None:
    """zstdcat (any zstd decoder reading across frames) gives one JSON object per line."""
    data = frames([rec(1), rec(2)], [rec(3)], frame_size=10)
    text = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True).read()
    assert 3 == len(text.decode().splitlines())


def test_later_records_compress_against_earlier_ones() -> None:
    """One stream per frame: a group of one record costs far less after similar records."""
    body = {"body": "x" * 50 + "".join(f"{i:04d}" for i in range(300))}
    alone = len(frames([rec(1, **body)]))
    tenth = len(frames(*[[rec(i, **body)] for i in range(10)])) - len(frames(*[[rec(i, **body)] for i in range(9)]))
    assert tenth * 5 < alone


def test_a_file_cut_after_a_group_gives_every_record() -> None:
    """kill -9 between two writes (or a listener still writing): every record reads, no warning."""
    data = frames([rec(1), rec(2)], [rec(3)], finish=False)
    assert (ids(1, 2, 3), []) == read(data)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
def test_a_file_cut_inside_a_group_gives_the_groups_before_it(keep: float) -> None:
    """A write cut short (a full disk): the groups before it read, the cut one is lost."""
    before = frames([rec(1), rec(2)], [rec(3)], finish=False)
    data = frames([rec(1), rec(2)], [rec(3)], [rec(4), rec(5)], finish=False)
    assert data.startswith(before)
    cut = len(data) - len(before) - int((len(data) - len(before)) * keep)
    found, warnings = read(data[:-cut])
    assert ids(1, 2, 3) == found
    lost = len(data) - cut - len(before)
    assert [f"f: skipped {lost} bytes at offset {len(before)}: the file ends in the middle of a write (cut short)"] == warnings


def test_damage_between_frames_is_skipped_and_counted() -> None:
    """Garbage between frames is skipped; the warning says how many bytes and where."""
    first, second = frames([rec(1)]), frames([rec(2)])
    assert (ids(1, 2), [f"f: skipped 24 damaged bytes at offset {len(first)}"]) == read(first + b"GARBAGE!" * 3 + second)


def test_a_damaged_frame_is_skipped_and_the_next_frame_reads() -> None:
    """Bytes flipped inside a frame: that frame's unread records are lost, the next frame reads."""
    first, second, third = frames([rec(1)]), frames([rec(2)]), frames([rec(3)])
    damaged = bytearray(first + second + third)
    damaged[len(first) + len(second) // 2] ^= 0xFF
    found, warnings = read(bytes(damaged))
    assert ids(1, 3) == found
    assert [f"f: skipped {len(second)} damaged bytes at offset {len(first)}"] == warnings


def test_records_before_the_damage_in_a_big_frame_are_kept() -> None:
    """Damage near the end of a large frame does not cost the records decoded before it."""
    groups = [[rec(i, body=f"{i}" * 2715)] for i in range(200)]  # 3,130 bytes a record, as before records had every field
    data = bytearray(frames(*groups))
    data[-100] ^= 0xFF
    found, warnings = read(bytes(data))
    assert len(found) > 150
    assert found == ids(*range(len(found)))
    assert 1 == len(warnings) and "damaged bytes at offset" in warnings[0]


@pytest.mark.parametrize("chunk", [1, 7, 100, 1 << 16])
def test_records_read_alike_whatever_the_chunks_they_arrive_in(chunk: int) -> None:
    """Lines that straddle two decoded outputs come back whole (big records and small)."""
    groups = [[rec(i, body="x" * (i * 300))] for i in range(12)]
    data = frames(*groups, frame_size=2000)
    decoder = RecordDecoder("f")
    got = [r.data for n in range(0, len(data), chunk) for r in decoder.feed(data[n : n + chunk])]
    decoder.end()
    assert [record for group in groups for record in group] == got


def test_blank_lines_are_no_damage_but_a_line_that_is_not_json_is() -> None:
    text = orjson.dumps(rec(1)) + b"\n\n \r\n" + b"{not json\n" + orjson.dumps(rec(2)) + b"\n"
    ids_, warnings = read(zstandard.ZstdCompressor().compress(text))
    assert ids(1, 2) == ids_
    assert 1 == len(warnings) and "not JSON" in warnings[0]


def test_not_a_snapshot() -> None:
    """A file that is not zstd at all yields nothing and one warning covering all of it."""
    assert ([], ["f: skipped 230 damaged bytes at offset 0"]) == read(b"this is not a snapshot\n" * 10)


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
    data = frames([rec(1), rec(2)], [rec(3)], frame_size=10)
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
