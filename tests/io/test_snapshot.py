"""Snapshot files: round trip, many frames, damage, versions, several writers."""

from __future__ import annotations

import contextlib
import io
import os
import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sentry_mirror.core import checks
from sentry_mirror.core.checks import HEADER
from sentry_mirror.core.encoding import ZSTD_MAGIC_BYTES
from sentry_mirror.core.record import NEWEST_VERSION, RECORD_VERSION
from sentry_mirror.errors import FormatVersionError, MirrorError, SnapshotError
from sentry_mirror.io.decoder import RecordDecoder, read_records
from sentry_mirror.io.snapshot import SnapshotWriter, expand, iter_records
from tests.factories import make_record, sample_records


def rec(n: int, at: str = "2026-11-23T10:00:00.000000Z", **extra: Any) -> dict[str, Any]:
    """A whole record (readers skip one without the fields the listener writes); small, as the
    tests of damage count records per compressed byte."""
    return make_record(v=RECORD_VERSION, id=f"{n:032x}", received_at=at, **extra)


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
    assert [
        f"f: skipped {lost} bytes at offset {len(before)}: the file ends in the middle of a write (cut short)"
    ] == warnings


def test_damage_between_frames_is_skipped_and_counted() -> None:
    """Garbage between frames is skipped; the warning says how many bytes and where."""
    first, second = frames([rec(1)]), frames([rec(2)])
    at = len(first)
    expected = f"f: skipped 24 damaged bytes at offsets {at}-{at + 24} (zstd: Unknown frame descriptor)"
    assert (ids(1, 2), [expected]) == read(first + b"GARBAGE!" * 3 + second)


def test_a_damaged_frame_is_skipped_and_the_next_frame_reads() -> None:
    """Bytes flipped inside a frame: that frame's unread records are lost, the next frame reads."""
    first, second, third = frames([rec(1)]), frames([rec(2)]), frames([rec(3)])
    damaged = bytearray(first + second + third)
    damaged[len(first) + len(second) // 2] ^= 0xFF
    found, warnings = read(bytes(damaged))
    assert ids(1, 3) == found
    start, end = len(first) + len(HEADER), len(first) + len(second)  # the frame after the header
    prefix = (
        f"f: skipped {end - start} damaged bytes at offsets {start}-{end} (zstd: "  # zstd's words depend on the bit
    )
    assert 1 == len(warnings) and warnings[0].startswith(prefix), warnings


def test_records_before_the_damage_in_a_big_frame_are_kept() -> None:
    """Damage near the end of a large frame does not cost the records decoded before it."""
    groups = [
        [rec(i, body=f"{i}" * 2715)] for i in range(200)
    ]  # 3,130 bytes a record, as before records had every field
    data = bytearray(frames(*groups))
    data[-100] ^= 0xFF
    found, warnings = read(bytes(data))
    assert len(found) > 150
    assert found == ids(*range(len(found)))
    assert "damaged bytes at offsets" in warnings[-1]


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
    assert ([], ["f: skipped 230 damaged bytes at offsets 0-230 (zstd: Unknown frame descriptor)"]) == read(
        b"this is not a snapshot\n" * 10
    )


def test_empty_file() -> None:
    assert ([], []) == read(b"")


def test_newer_format_version_is_refused_with_advice() -> None:
    """A record from a newer sentry-mirror stops the read with an 'upgrade' message."""
    with pytest.raises(FormatVersionError, match="upgrade sentry-mirror"):
        read(frames([rec(1), {**rec(2), "v": NEWEST_VERSION + 1}]))


def test_a_line_without_version_is_skipped_with_a_warning() -> None:
    ids, warnings = read(frames([rec(1), {"hello": "world"}]))
    assert [f"{1:032x}"] == ids
    assert 1 == len(warnings) and "not a sentry-mirror record" in warnings[0]


def test_a_skipped_line_is_named_by_the_offset_of_its_own_frame() -> None:
    """The warning names where the frame holding the line starts, not where the next one does."""
    first = frames([rec(1)])
    second = zstandard.ZstdCompressor(write_checksum=True).compress(b'{"hello": "world"}\n')
    _, warnings = read(first + second + frames([rec(2)])[len(HEADER) :])
    assert [
        f"f: skipped a line in the frame at offset {len(first)}: not a sentry-mirror record (no format version 'v')"
    ] == warnings


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000), st.integers(min_value=0, max_value=400))
@example(b"\x28\xb5\x2f\xfd", 0)
@example(b"\x28\xb5\x2f\xfd\x00\x00\x00\x00\x00\x00", 3)
def test_reader_raises_only_its_own_errors(noise: bytes, where: int) -> None:
    """Random bytes spliced into a valid snapshot: the reader warns or raises MirrorError, nothing else."""
    data = frames([rec(1), rec(2)], [rec(3)], frame_size=10)
    where = min(where, len(data))
    with contextlib.suppress(MirrorError):
        read(data[:where] + noise + data[where:])


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


# ---------------------------------------------------------------- checks (core.checks)

FUZZ_EXAMPLES = int(os.environ.get("SENTRY_MIRROR_FUZZ_EXAMPLES", "120"))


REAL = sample_records("python") + sample_records("node")


OTHER = frames([rec(1, body="x" * 500)], [rec(2)], finish=False)  # another capture, to splice in


def _real_snapshot(finish: bool) -> bytes:
    """The samples' records written as a listener writes them: groups of 1 to 3, several
    frames, the last one finished or left open (a listener killed, or still writing)."""
    groups, at = [], 0
    while at < len(REAL):
        groups.append(REAL[at : at + 1 + at % 3])
        at += 1 + at % 3
    return frames(*groups, frame_size=12_000, finish=finish)


def _check_read(data: bytes, *, losses_warned: bool = True, also: list[dict[str, Any]] = []) -> None:  # noqa: B006
    """Reading damaged bytes: no exception, every record given out is one that was written
    (to this capture, or ``also`` to one spliced in), and (``losses_warned``) if any
    record written is missing, a warning says so."""
    warnings: list[str] = []
    got = [r.data for r in read_records(io.BytesIO(data), name="f", on_warning=warnings.append)]
    written = [orjson.dumps(r) for r in REAL]
    assert all(orjson.dumps(r) in written or r in also for r in got), "an altered record was returned"
    if losses_warned and {orjson.dumps(r) for r in got} != set(written):
        assert warnings, "records were lost without a warning"


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(st.booleans(), st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)), min_size=1, max_size=3))
def test_flipped_bits_never_give_an_altered_record(finish: bool, flips: list[tuple[float, int]]) -> None:
    """Bits flipped anywhere in a real snapshot (frames, blocks, checksums, marks, header).

    Longer runs: SENTRY_MIRROR_FUZZ_EXAMPLES=20000 pytest tests/io/test_snapshot.py -k never
    """
    data = bytearray(_real_snapshot(finish))
    for where, bit in flips:
        data[int(where * len(data))] ^= 1 << bit
    _check_read(bytes(data))


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(
    st.booleans(), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.sampled_from(["cut", "drop", "copy", "splice"])
)
def test_cut_dropped_and_spliced_bytes_never_give_an_altered_record(
    finish: bool, a: float, b: float, c: float, how: str
) -> None:
    """A file cut short, a range dropped, a range copied elsewhere in it, or bytes of another
    capture spliced in. (A cut or a drop exactly between groups or frames loses records
    with no trace to find: only altered records are ruled out.) Longer runs:
    SENTRY_MIRROR_FUZZ_EXAMPLES=20000 (see above)."""
    data = _real_snapshot(finish)
    start, end = sorted((int(a * len(data)), int(b * len(data))))
    where = int(c * len(data))
    if how == "cut":
        damaged = data[:start]
    elif how == "drop":
        damaged = data[:start] + data[end:]
    elif how == "copy":
        damaged = data[:where] + data[start:end] + data[where:]
    else:
        damaged = data[:where] + OTHER[int(a * len(OTHER)) :] + data[where:]
    _check_read(damaged, losses_warned=False, also=[rec(1, body="x" * 500), rec(2)])


@pytest.mark.parametrize("finish", [True, False])
def test_every_flipped_bit_of_one_group_is_caught(finish: bool) -> None:
    """Exhaustive over a small file: each single bit flip either leaves the records whole or
    is reported; this is the case where a flip used to decode to a different, valid record."""
    data = frames([rec(1, body="hello world " * 20)], [rec(2, body="more " * 30)], finish=finish)
    for at in range(len(data)):
        for bit in range(8):
            damaged = bytearray(data)
            damaged[at] ^= 1 << bit
            warnings: list[str] = []
            got = [r.data for r in read_records(io.BytesIO(bytes(damaged)), on_warning=warnings.append)]
            assert all(r in (rec(1, body="hello world " * 20), rec(2, body="more " * 30)) for r in got)
            assert len(got) == 2 or warnings


def test_a_flip_in_an_open_frame_keeps_the_groups_before_it() -> None:
    """An unfinished frame (kill -9) damaged in its third group: the two groups before pass
    their marks and are read; the warning names the file and the bytes skipped."""
    before = frames([rec(1)], [rec(2)], finish=False)
    data = bytearray(frames([rec(1)], [rec(2)], [rec(3, body="z" * 400)], finish=False))
    data[len(before) + 10] ^= 0x04
    found, warnings = read(bytes(data))
    assert ids(1, 2) == found
    assert warnings and all(w.startswith("f: ") for w in warnings)
    assert any(f"at offsets {len(HEADER)}-{len(data)}" in w for w in warnings)


def test_an_altered_group_that_still_decodes_is_caught_by_its_mark() -> None:
    """The mark, not zstd, catches a record changed in a way that still decodes: a frame,
    still open, whose second group says "abd" where "abc" was written (and marked)."""
    first, second = orjson.dumps(rec(1)) + b"\n", orjson.dumps(rec(2, body="abc")) + b"\n"
    marked, crc = checks.mark_group(first, 0)
    stream = zstandard.ZstdCompressor(write_checksum=True).compressobj(size=-1)
    data = HEADER + stream.compress(marked) + stream.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
    altered = second.replace(b"abc", b"abd")[:-1] + checks.mark(zlib.crc32(second, crc)) + b"\n"
    data += stream.compress(altered) + stream.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
    found, warnings = read(data)
    assert ids(1) == found
    assert 1 == len(warnings) and "failed its group checks" in warnings[0]


def test_old_snapshots_without_checks_still_read() -> None:
    """Files written before the checks (no header, no marks) read as before, without warnings."""
    old = Path(__file__).parents[1] / "data" / "v1-sentry-python-2.75.0.jsonl.zst"
    assert not old.read_bytes().startswith(HEADER)
    warnings: list[str] = []
    assert 21 == len(list(read_records(old.open("rb"), on_warning=warnings.append)))
    assert [] == warnings


def test_an_old_unfinished_frame_reads_with_a_warning_that_it_is_unchecked() -> None:
    """A file an older listener left open: its records read, and a warning says they carry no check."""
    compressor = zstandard.ZstdCompressor(write_checksum=True).compressobj(size=-1)
    data = compressor.compress(orjson.dumps(rec(1)) + b"\n") + compressor.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
    found, warnings = read(data)
    assert ids(1) == found
    assert 1 == len(warnings) and "written without checks" in warnings[0]


def test_the_checks_header_is_skipped_by_zstd_tools_and_marks_by_json_readers() -> None:
    """zstd skips the header frame; every line is still one JSON object (a mark is whitespace)."""
    data = frames([rec(1), rec(2)], [rec(3)], frame_size=10)
    assert data.startswith(HEADER)
    lines = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True).read().splitlines()
    assert [rec(1), rec(2), rec(3)] == [orjson.loads(line) for line in lines]
    assert [False, True, True] == [line.endswith((b" ", b"\t")) for line in lines]  # the last line of each group


@pytest.mark.parametrize("size", [100, 300_000])
def test_a_live_decoder_gives_each_group_once_its_last_byte_is_in(size: int) -> None:
    """Following a file being written: a group's records come out as soon as the group is
    written (its mark checked), long before the frame ends; big groups span several blocks."""
    decoder = RecordDecoder("f")
    out = io.BytesIO()
    writer = SnapshotWriter(out)
    for n in range(3):
        start = out.tell()
        writer.write([rec(n, body="y" * size), rec(n + 10)])
        data = out.getvalue()[start:]
        got = [r.id for chunk in range(0, len(data), 5000) for r in decoder.feed(data[chunk : chunk + 5000])]
        assert ids(n, n + 10) == got
    assert writer.frame_open
