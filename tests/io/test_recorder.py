"""The recorder when storage fails: 503 (StorageUnavailable), never a record on disk whose
status the client did not get, and writing again once storage is back."""

from __future__ import annotations

import asyncio
import base64
import errno
import os
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sentry_mirror.io import recorder as recorder_module
from sentry_mirror.io.recorder import Recorder, StorageUnavailable
from sentry_mirror.io.snapshot import iter_records
from tests.factories import make_record


def entry(size: int = 100, *, random: bool = False) -> dict[str, Any]:
    """A record as the server builds it (what the recorder needs of one: id, body, status)."""
    body = base64.b64encode(os.urandom(size)).decode() if random else "x" * size
    return make_record(
        id=uuid.uuid4().hex,
        received_at="2026-11-23T10:00:01.123456Z",
        body=body,
        notes=[],
        response={"status": 200, "headers": [], "body": "", "body_base64": False},
    )


def on_disk(directory: Path) -> list[dict[str, Any]]:
    warnings: list[str] = []
    records = [r.data for r in iter_records([directory], on_warning=warnings.append)]
    assert [] == warnings
    return records


async def write(recorder: Recorder, record: dict[str, Any]) -> int:
    """The status the server would answer: 200 once written, 503 when refused."""
    try:
        await recorder.write(record)
    except StorageUnavailable:
        return 503
    return 200


@pytest.fixture
def fast_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recorder_module, "RETRY_INTERVAL", 0.1)


class FailingWrites:
    """The recorder's write seam (its file object over the descriptor), failing on demand:
    ``after`` bytes are written, then ENOSPC, as a disk that fills in the middle of a write."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.after: int | None = None
        real = recorder_module._FdFile.write

        def write(file: Any, data: bytes | memoryview) -> int:
            if self.after is None:
                return real(file, data)
            if self.after == 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            part = memoryview(data)[: self.after]
            self.after -= len(part)
            return real(file, part)

        monkeypatch.setattr(recorder_module._FdFile, "write", write)


async def test_a_write_cut_half_way_is_undone_and_answered_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_retry: None
) -> None:
    """ENOSPC in the middle of a group's write: the part written is cut off, so the file
    holds exactly the acknowledged records and reads without a warning."""
    seam = FailingWrites(monkeypatch)
    announced: list[Path] = []
    async with Recorder(tmp_path, on_open=announced.append) as recorder:
        first = entry()
        assert 200 == await write(recorder, first)
        seam.after = 40  # the next group gets 40 bytes in, then the disk is full
        group = [entry(5000, random=True) for _ in range(3)]
        assert [503, 503, 503] == await asyncio.gather(*(write(recorder, r) for r in group))
        assert recorder.unavailable is not None and "ENOSPC" in recorder.unavailable
        assert 503 == await write(recorder, entry())  # refused at once while the outage lasts
        await asyncio.sleep(0.15)
        seam.after = 0
        assert 503 == await write(recorder, entry())  # the retry (in a new file) fails too
        seam.after = None
        await asyncio.sleep(0.15)
        last = entry()
        assert 200 == await write(recorder, last)
        assert recorder.unavailable is None
    assert 2 == len(recorder.paths) == len(os.listdir(tmp_path))  # the failed retry's file is gone
    assert [recorder.paths[1]] == announced  # and was never announced
    assert [first["id"], last["id"]] == [r["id"] for r in on_disk(tmp_path)]
    assert (2, 5, 1) == (recorder.records, recorder.refused, recorder.outages)


async def test_a_failed_fsync_leaves_no_record_saying_200(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_retry: None
) -> None:
    """--fsync: the write went through but fsync failed, so the client gets 503; the records
    of that group, which say 200, are cut from the file (they were in it before)."""
    real_fsync = os.fsync
    fail = threading.Event()

    def fsync(fd: int) -> None:
        if fail.is_set():
            fail.clear()
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    async with Recorder(tmp_path, fsync=True) as recorder:
        kept = entry()
        assert 200 == await write(recorder, kept)
        fail.set()
        lost = [entry(), entry()]
        assert [503, 503] == await asyncio.gather(*(write(recorder, r) for r in lost))
        assert [kept["id"]] == [r["id"] for r in on_disk(tmp_path)]  # already gone while running
        await asyncio.sleep(0.15)
        again = entry()
        assert 200 == await write(recorder, again)
    assert [kept["id"], again["id"]] == [r["id"] for r in on_disk(tmp_path)]


async def test_a_file_that_cannot_be_cut_back_is_named_by_the_next_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_retry: None
) -> None:
    """The cut itself fails (the file may keep part of a group answered 503): the first record
    written after the outage carries a note with that file and the ids of that group."""
    seam = FailingWrites(monkeypatch)
    real_ftruncate = os.ftruncate

    def ftruncate(fd: int, length: int) -> None:
        if seam.after is not None:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_ftruncate(fd, length)

    monkeypatch.setattr(os, "ftruncate", ftruncate)
    async with Recorder(tmp_path) as recorder:
        assert 200 == await write(recorder, entry())
        first_file = recorder.path
        seam.after = 40
        lost = entry(5000, random=True)
        assert 503 == await write(recorder, lost)
        seam.after = None
        await asyncio.sleep(0.15)
        assert 200 == await write(recorder, entry())
    assert first_file is not None
    warnings: list[str] = []
    records = [r.data for r in iter_records([recorder.paths[1]], on_warning=warnings.append)]
    [note] = records[0]["notes"]
    assert first_file.name in note and lost["id"] in note and "answered 503" in note


async def test_the_idle_frame_end_failing_is_an_outage_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_retry: None
) -> None:
    """The frame end written after a quiet second fails: no crash, the next write goes to a new file."""
    monkeypatch.setattr(recorder_module, "FRAME_IDLE", 0.05)
    seam = FailingWrites(monkeypatch)
    async with Recorder(tmp_path) as recorder:
        first = entry()
        assert 200 == await write(recorder, first)
        seam.after = 0
        await asyncio.sleep(0.1)  # the idle frame end fails
        assert recorder.unavailable is not None
        seam.after = None
        await asyncio.sleep(0.15)
        second = entry()
        assert 200 == await write(recorder, second)
    assert [first["id"], second["id"]] == [r["id"] for r in on_disk(tmp_path)]


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MiB filesystem (tmpfs; needs root, which CI has)."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        message = f"cannot mount a tmpfs: {done.stderr.strip() or done.returncode}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{message} (CI runs as root: this test must run there)")
        pytest.skip(message)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_a_real_full_disk_then_space_again(small_tmpfs: Path, fast_retry: None) -> None:
    """A real filesystem fills up: every record on disk was answered 200 and every 200 is on
    disk; the recorder refuses (503) while it is full and writes again once space is freed."""
    filler = small_tmpfs / "filler"
    filler.write_bytes(os.urandom(1_500_000))
    answered: dict[str, int] = {}
    async with Recorder(small_tmpfs / "snapshots") as recorder:
        for _ in range(200):  # ~4 KB of incompressible body each: the disk is full long before
            record = entry(3000, random=True)
            answered[record["id"]] = await write(recorder, record)
            if answered[record["id"]] == 503:
                break
        assert 503 in answered.values()
        filler.unlink()
        await asyncio.sleep(0.15)
        record = entry(3000, random=True)
        answered[record["id"]] = await write(recorder, record)
        assert 200 == answered[record["id"]]
    stored = {r["id"] for r in on_disk(small_tmpfs / "snapshots")}
    assert {i for i, status in answered.items() if status == 200} == stored
