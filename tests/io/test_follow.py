"""``follow``: records appended to snapshots appear as they are written, across rotation.

Each test drives :func:`follow` with a script: before each look at the files, ``stopped``
runs the next step of the script (a write, a rotation, a check of what was seen so far), and
following stops when the script is over. No thread, no timing.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from sentry_mirror.core.record import RECORD_VERSION
from sentry_mirror.errors import SnapshotError
from sentry_mirror.io.decoder import read_records
from sentry_mirror.io.follow import follow
from sentry_mirror.io.snapshot import SnapshotWriter
from tests.factories import make_record

Step = Callable[[], object]


def rec(n: int) -> dict[str, Any]:
    return make_record(v=RECORD_VERSION, id=f"{n:032x}", received_at="2026-11-23T10:00:00.000000Z")


def ids(*numbers: int) -> list[str]:
    return [f"{n:032x}" for n in numbers]


class Follower:
    """What ``follow`` gave out, step by step."""

    def __init__(self, paths: list[Path], steps: list[Step]) -> None:
        self.seen: list[str] = []
        self.warnings: list[str] = []
        self.ready: list[int] = []
        script = iter(steps)

        def stopped() -> bool:
            step = next(script, None)
            if step is None:
                return True
            step()
            return False

        self.stream = follow(
            paths, on_warning=self.warnings.append, poll=0, stopped=stopped, on_ready=self.ready.append
        )

    def run(self) -> Follower:
        for record in self.stream:
            self.seen.append(record.id)
        return self


def open_writer(path: Path) -> tuple[BinaryIO, SnapshotWriter]:
    fo = path.open("ab", buffering=0)  # every write on disk at once, as the recorder's
    return fo, SnapshotWriter(fo)


@pytest.fixture
def files() -> Iterator[list[BinaryIO]]:
    opened: list[BinaryIO] = []
    yield opened
    for fo in opened:
        fo.close()


def test_existing_records_are_skipped_and_appended_ones_appear(tmp_path: Path, files: list[BinaryIO]) -> None:
    path = tmp_path / "2026-11-23T10-00-00Z-host-1.jsonl.zst"
    fo, writer = open_writer(path)
    files.append(fo)
    writer.write([rec(1), rec(2)])
    follower = Follower(
        [path],
        [
            lambda: writer.write([rec(3)]),
            lambda: writer.write([rec(4), rec(5)]),
            lambda: None,
        ],
    ).run()
    assert ([1], ids(3, 4, 5), []) == (follower.ready, follower.seen, follower.warnings)


def test_a_group_appears_once_its_last_byte_is_written(tmp_path: Path, files: list[BinaryIO]) -> None:
    """A write cut across two looks is no damage: the group comes out when it is whole."""
    path = tmp_path / "2026-11-23T10-00-00Z-host-1.jsonl.zst"
    fo, writer = open_writer(path)
    files.append(fo)
    writer.write([rec(1)])
    data = writer.encode([rec(2), rec(3)])
    half = len(data) // 2

    def check_nothing_yet() -> None:
        assert [] == follower.seen

    follower = Follower(
        [path],
        [lambda: fo.write(data[:half]), lambda: None, check_nothing_yet, lambda: fo.write(data[half:]), lambda: None],
    )
    follower.run()
    assert (ids(2, 3), []) == (follower.seen, follower.warnings)


def test_rotation_to_a_new_file_is_followed(tmp_path: Path, files: list[BinaryIO]) -> None:
    """The rotated file is read to its end and closed; the new one, and a new writer's file,
    are read from their start."""
    old = tmp_path / "2026-11-23T10-00-00Z-host-1.jsonl.zst"
    new = tmp_path / "2026-11-23T10-05-00Z-host-1.jsonl.zst"
    other = tmp_path / "2026-11-23T10-06-00Z-other-2.jsonl.zst"
    fo, writer = open_writer(old)
    files.append(fo)
    writer.write([rec(1)])
    state: dict[str, SnapshotWriter] = {}

    def rotate() -> None:
        writer.write([rec(2)])  # the last group of the old file
        writer.close()
        new_fo, state["new"] = open_writer(new)
        files.append(new_fo)
        state["new"].write([rec(3)])

    def other_writer() -> None:
        other_fo, other_writer = open_writer(other)
        files.append(other_fo)
        other_writer.write([rec(5)])

    follower = Follower(
        [tmp_path],
        [rotate, lambda: state["new"].write([rec(4)]), other_writer, lambda: None],
    ).run()
    assert (ids(2, 3, 4, 5), []) == (follower.seen, follower.warnings)


def test_damage_is_skipped_with_the_warning_the_reader_gives(tmp_path: Path, files: list[BinaryIO]) -> None:
    path = tmp_path / "2026-11-23T10-00-00Z-host-1.jsonl.zst"
    fo, writer = open_writer(path)
    files.append(fo)
    writer.write([rec(1)])
    writer.finish_frame()

    def damage() -> None:
        fo.write(b"this is not zstd at all")
        writer.write([rec(2)])  # a new frame: reading resumes there
        writer.close()

    follower = Follower([path], [damage, lambda: None]).run()
    reader_warnings: list[str] = []
    with path.open("rb") as whole:
        read = [r.id for r in read_records(whole, name=str(path), on_warning=reader_warnings.append)]
    assert ids(1, 2) == read and 1 == len(reader_warnings) and "damaged bytes" in reader_warnings[0]
    assert (ids(2), reader_warnings) == (follower.seen, follower.warnings)


def test_a_line_that_is_not_a_record_is_skipped_with_a_warning(tmp_path: Path, files: list[BinaryIO]) -> None:
    path = tmp_path / "2026-11-23T10-00-00Z-host-1.jsonl.zst"
    fo, writer = open_writer(path)
    files.append(fo)
    writer.write([rec(1)])
    follower = Follower([path], [lambda: writer.write([{"no": "version"}, rec(2)]), lambda: None]).run()
    assert ids(2) == follower.seen
    assert 1 == len(follower.warnings) and follower.warnings[0].startswith(f"{path}: skipped")


def test_following_stops_on_request_and_closes_its_files(tmp_path: Path) -> None:
    path = tmp_path / "2026-11-23T10-00-00Z-host-1.jsonl.zst"
    out = io.BytesIO()
    SnapshotWriter(out).write([rec(1)])
    path.write_bytes(out.getvalue())
    fds = Path("/proc/self/fd")
    before = len(list(fds.iterdir())) if fds.is_dir() else 0
    follower = Follower([path], []).run()  # stopped at once
    assert ([1], []) == (follower.ready, follower.seen)
    if fds.is_dir():
        assert before == len(list(fds.iterdir()))


def test_the_consumer_stopping_closes_the_files(tmp_path: Path, files: list[BinaryIO]) -> None:
    path = tmp_path / "2026-11-23T10-00-00Z-host-1.jsonl.zst"
    fo, writer = open_writer(path)
    files.append(fo)
    writer.write([rec(1)])
    fds = Path("/proc/self/fd")
    before = len(list(fds.iterdir())) if fds.is_dir() else 0
    stream = Follower([path], [lambda: writer.write([rec(2), rec(3)])] + [lambda: None] * 3).stream
    assert ids(2) == [next(stream).id]
    stream.close()
    if fds.is_dir():
        assert before == len(list(fds.iterdir()))


def test_follow_opens_only_the_newest_file_of_each_writer(tmp_path: Path) -> None:
    """A directory of many rotated files: following opens one file per listener, not all."""
    for n in range(50):
        (tmp_path / f"2026-11-23T10-{n:02d}-00Z-host-1.jsonl.zst").write_bytes(b"")
    (tmp_path / "2026-11-23T10-00-00Z-other-2.jsonl.zst").write_bytes(b"")
    ready: list[int] = []
    stream = follow([tmp_path], on_warning=lambda m: None, on_ready=ready.append, stopped=lambda: bool(ready))
    assert [] == list(stream)
    assert [2] == ready


def test_a_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="no such snapshot file or directory"):
        next(follow([tmp_path / "nope"], on_warning=lambda m: None))


def test_a_file_named_by_a_string_is_followed(tmp_path: Path) -> None:
    """Paths may be ``str`` as well as ``os.PathLike``."""
    path = tmp_path / "2026-11-23T10-00-00Z-host-1.jsonl.zst"
    path.write_bytes(b"")
    ready: list[int] = []
    assert [] == list(follow([os.fspath(path)], on_warning=lambda m: None, on_ready=ready.append, stopped=lambda: True))
    assert [1] == ready
