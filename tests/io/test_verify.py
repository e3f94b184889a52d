"""``verify_file``: a snapshot file read whole against its checks, and what it found."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard

from sentry_mirror.core.record import RECORD_VERSION
from sentry_mirror.errors import SnapshotError
from sentry_mirror.io.snapshot import SnapshotWriter
from sentry_mirror.io.verify import verify_file
from tests.factories import make_answer, make_record


def rec(n: int) -> dict[str, Any]:
    return make_record(v=RECORD_VERSION, id=f"{n:032x}", received_at="2026-11-23T10:00:00.000000Z")


def written(*groups: list[dict[str, Any]], close: bool = True) -> bytes:
    out = io.BytesIO()
    writer = SnapshotWriter(out)
    for group in groups:
        writer.write(group)
        writer.finish_frame()
    if not close:
        writer.write([rec(99)])
    return out.getvalue()


def test_a_whole_file_is_ok(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl.zst"
    path.write_bytes(written([rec(1)], [rec(2), rec(3)]))
    check = verify_file(path)
    assert ("ok", True, 3, 2, path.stat().st_size) == (check.status, check.ok, check.records, check.frames, check.size)
    assert {
        "file": str(path), "status": "ok", "ok": True, "bytes": check.size, "records": 3, "answers": 0, "checked": True,
        "frames": 2, "unchecked_frames": 0, "open_frame": False, "damage": [], "problems": [],
    } == check.to_dict()  # fmt: skip


def test_answer_records_are_counted_as_records_and_as_answers(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl.zst"
    path.write_bytes(written([rec(1), make_answer(rec(1)), rec(2)], [make_answer(rec(2), status=503)]))
    check = verify_file(path)
    assert ("ok", 4, 2) == (check.status, check.records, check.answers)
    assert (4, 2) == (check.to_dict()["records"], check.to_dict()["answers"])


def test_a_file_still_being_written_is_ok_with_its_frame_open(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl.zst"
    path.write_bytes(written([rec(1)], close=False))
    check = verify_file(path)
    assert ("ok", 2, True) == (check.status, check.records, check.open_frame)


def test_damage_makes_a_file_damaged_with_its_offsets(tmp_path: Path) -> None:
    data = written([rec(1)], [rec(2)])
    middle = data.index(b"\x28\xb5\x2f\xfd", 10) + 6  # inside the first frame's data
    path = tmp_path / "a.jsonl.zst"
    path.write_bytes(data[:middle] + b"\xff" * 8 + data[middle + 8 :])
    check = verify_file(path)
    assert ("damaged", False) == (check.status, check.ok)
    assert check.damage and check.problems
    assert offsets(check.to_dict()["damage"]) == [(d.start, d.end) for d in check.damage]


def offsets(damage: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return [(d["start"], d["end"]) for d in damage]


def test_an_old_file_without_checks_is_ok_but_partly_unchecked(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl.zst"
    path.write_bytes(zstandard.compress(orjson.dumps(rec(1)) + b"\n"))
    check = verify_file(path)
    assert ("ok, partly unchecked", False, 1, []) == (
        check.status,
        check.checked,
        check.unchecked_frames,
        check.problems,
    )


def test_a_missing_file_is_a_snapshot_error(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match=r"cannot read snapshot .*missing"):
        verify_file(tmp_path / "missing.jsonl.zst")
