"""``RecordDecoder``: what it gives out, when, and what it tells ``verify`` (its stats).

The format's round trips and damage cases (writer and reader together) are in
test_snapshot.py; these are the decoder's own promises.
"""

from __future__ import annotations

import io
from typing import Any

import orjson
import zstandard

from sentry_mirror.core.record import RECORD_VERSION
from sentry_mirror.io.decoder import Damage, RecordDecoder, read_records
from sentry_mirror.io.snapshot import SnapshotWriter
from tests.factories import make_record


def rec(n: int) -> dict[str, Any]:
    return make_record(v=RECORD_VERSION, id=f"{n:032x}", received_at="2026-11-23T10:00:00.000000Z")


def ids(*numbers: int) -> list[str]:
    return [f"{n:032x}" for n in numbers]


def test_a_finished_file_counts_its_checked_frames() -> None:
    out = io.BytesIO()
    writer = SnapshotWriter(out)
    writer.write([rec(1)])
    writer.finish_frame()
    writer.write([rec(2), rec(3)])
    writer.close()
    decoder = RecordDecoder("f", live=False)
    got = [r.id for r in decoder.feed(out.getvalue())] + [r.id for r in decoder.finish()]
    assert ids(1, 2, 3) == got
    stats = decoder.stats
    assert (True, 2, 0, False, []) == (
        stats.checked,
        stats.frames,
        stats.unchecked_frames,
        stats.open_frame,
        stats.damage,
    )


def test_a_frame_left_open_is_read_at_the_end_and_is_no_damage() -> None:
    out = io.BytesIO()
    SnapshotWriter(out).write([rec(1), rec(2)])  # never closed: a listener still writing
    warnings: list[str] = []
    decoder = RecordDecoder("f", warnings.append, live=False)
    assert [] == list(decoder.feed(out.getvalue()))  # held until the input is over
    assert ids(1, 2) == [r.id for r in decoder.finish()]
    assert (True, [], []) == (decoder.stats.open_frame, decoder.stats.damage, warnings)


def test_a_live_decoder_gives_a_group_out_before_its_frame_ends() -> None:
    out = io.BytesIO()
    SnapshotWriter(out).write([rec(1)])
    assert ids(1) == [r.id for r in RecordDecoder("f").feed(out.getvalue())]


def test_a_plain_zstd_file_reads_unchecked() -> None:
    lines = b"".join(orjson.dumps(rec(n)) + b"\n" for n in (1, 2))
    decoder = RecordDecoder("f", live=False)
    got = [r.id for r in decoder.feed(zstandard.compress(lines))] + [r.id for r in decoder.finish()]
    assert ids(1, 2) == got
    assert (False, 0, 1) == (decoder.stats.checked, decoder.stats.frames, decoder.stats.unchecked_frames)


def test_damage_between_frames_is_named_by_its_offsets() -> None:
    out = io.BytesIO()
    writer = SnapshotWriter(out)
    writer.write([rec(1)])
    writer.finish_frame()
    start = len(out.getvalue())
    garbage = b"not a frame at all"
    out.write(garbage)
    writer.write([rec(2)])
    writer.close()
    warnings: list[str] = []
    decoder = RecordDecoder("f", warnings.append, live=False)
    got = [r.id for r in decoder.feed(out.getvalue())] + [r.id for r in decoder.finish()]
    end = start + len(garbage)
    assert ids(1, 2) == got
    assert [Damage(start, end, decoder.stats.damage[0].reason)] == decoder.stats.damage
    assert [
        f"f: skipped {len(garbage)} damaged bytes at offsets {start}-{end} ({decoder.stats.damage[0].reason})"
    ] == warnings


def test_end_reports_a_write_cut_short() -> None:
    out = io.BytesIO()
    writer = SnapshotWriter(out)
    writer.write([rec(1)])
    whole = out.getvalue()
    writer.write([rec(2)])
    data = out.getvalue()[: len(whole) + 5]  # the second write cut after 5 bytes
    warnings: list[str] = []
    decoder = RecordDecoder("f", warnings.append)
    assert ids(1) == [r.id for r in decoder.feed(data)]
    decoder.end()
    assert 1 == len(warnings) and "cut short" in warnings[0]
    assert ["cut short"] == [d.reason for d in decoder.stats.damage]


def test_read_records_reports_progress_in_bytes() -> None:
    out = io.BytesIO()
    writer = SnapshotWriter(out)
    writer.write([rec(n) for n in range(50)])
    writer.close()
    progress: list[int] = []
    records = list(read_records(io.BytesIO(out.getvalue()), on_progress=progress.append))
    assert 50 == len(records) and len(out.getvalue()) == sum(progress)
