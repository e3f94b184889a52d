"""The snapshot files read back as they grow: only the new bytes, damage warned, never raised."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from sentry_mirror.testing.reader import SnapshotReader
from tests.factories import make_record, write_snapshot


def ids(records: list) -> list[str]:  # type: ignore[type-arg]
    return [record.id for record in records]


def test_each_read_gives_the_records_added_since(tmp_path: Path) -> None:
    first = write_snapshot(tmp_path / "a.jsonl.zst", [make_record(id="1" * 32)])
    files = [first]
    reader = SnapshotReader(lambda: files)
    assert ["1" * 32] == ids(reader.read())
    assert [] == reader.read()
    second = write_snapshot(tmp_path / "b.jsonl.zst", [make_record(id="2" * 32), make_record(id="3" * 32)])
    files.append(second)
    assert ["2" * 32, "3" * 32] == ids(reader.read())


def test_damage_is_a_warning_and_the_rest_is_read(tmp_path: Path) -> None:
    good = write_snapshot(tmp_path / "good.jsonl.zst", [make_record(id="1" * 32)]).read_bytes()
    path = tmp_path / "damaged.jsonl.zst"
    path.write_bytes(good + b"\x00garbage that is no zstd frame" * 4 + good)
    reader = SnapshotReader(lambda: [path])
    with pytest.warns(UserWarning, match=r"damaged.jsonl.zst: skipped \d+ damaged bytes"):
        assert ["1" * 32, "1" * 32] == ids(reader.read())


def test_a_file_that_is_gone_is_no_error(tmp_path: Path) -> None:
    reader = SnapshotReader(lambda: [tmp_path / "removed.jsonl.zst"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [] == reader.read()


def test_a_record_of_a_newer_format_stops_that_file_with_a_warning(tmp_path: Path) -> None:
    path = write_snapshot(tmp_path / "new.jsonl.zst", [make_record(v=99)])
    reader = SnapshotReader(lambda: [path])
    with pytest.warns(UserWarning, match="no more of it is read"):
        assert [] == reader.read()
    assert [] == reader.read()
