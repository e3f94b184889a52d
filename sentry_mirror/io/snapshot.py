"""Snapshot files: zstd-compressed JSON lines, written in groups of records.

:class:`SnapshotWriter` and :func:`~sentry_mirror.io.decoder.read_records` work on binary
file objects (as mitmproxy's ``FlowWriter``/``FlowReader`` do); :func:`iter_records` adds
paths, directories and globs, and merges several writers' files in receive-time order.

Reading is streaming and tolerant: a file cut short (kill -9, a full disk) gives every
complete record, and a file damaged in the middle is read up to and around the damage
(resuming at the next zstd frame), with a warning that names the bytes skipped. Files
carry checks (:mod:`sentry_mirror.core.checks`: zstd frame checksums and a CRC mark per
group of records), and no record is given out before they pass: damage never comes back
as a different record.
"""

from __future__ import annotations

import glob
import heapq
import itertools
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import zstandard

from sentry_mirror.core import checks
from sentry_mirror.core.record import Record, dumps
from sentry_mirror.errors import SnapshotError
from sentry_mirror.io.decoder import Progress, Warn, ignore, read_records

SUFFIX = ".jsonl.zst"
#: A zstd frame is finished once this many uncompressed bytes went into it, so damage
#: to a file costs at most one frame's records, and readers never hold more than that.
FRAME_SIZE = 1 << 20
#: zstd level: on real SDK records 2 is both faster and smaller than the library's default 3
#: (records compress against the ones before them in the frame, flushed at every group).
LEVEL = 2


class Sink(Protocol):
    """What :class:`SnapshotWriter` writes to: a binary file, or a raw descriptor's writer
    (a raw file may write less than asked, or nothing yet: ``None``)."""

    def write(self, data: memoryview, /) -> int | None: ...


class SnapshotWriter:
    """Appends groups of records to a binary file object.

    One compression stream runs across the records of a frame, so each record is
    compressed against the ones before it (far smaller than a frame per record). After
    each group the stream is flushed to a block boundary: everything written so far
    decodes, even if the file is cut right after. A frame is finished every
    :data:`FRAME_SIZE` bytes, on :meth:`finish_frame` and on :meth:`close`.

    The file carries the checks of :mod:`sentry_mirror.core.checks`: it starts with their
    header (written with the first group, so a file that gets no record stays empty),
    every frame has zstd's checksum, and every group's last line ends with a group mark.
    """

    def __init__(self, fo: Sink, *, level: int = LEVEL, frame_size: int = FRAME_SIZE) -> None:
        self._fo = fo
        self._compressor = zstandard.ZstdCompressor(level=level, write_checksum=True)
        self._frame: zstandard.ZstdCompressionObj | None = None  # the compressobj of the open frame
        self._frame_input = 0
        self._crc = 0  # the running CRC-32 of the open frame's lines (core.checks)
        self._header = checks.HEADER  # written before the first group
        self.frame_size = frame_size

    @property
    def frame_open(self) -> bool:
        return self._frame is not None

    def encode(self, records: Iterable[dict[str, Any]]) -> bytes:
        """The bytes that append ``records`` (call :meth:`write_bytes` with them next, in order)."""
        return self.encode_lines(b"".join(dumps(record) for record in records))

    def encode_lines(self, payload: bytes) -> bytes:
        """:meth:`encode` for records already turned into JSON lines (:func:`dumps`)."""
        head, self._header = self._header, b""
        if self._frame is None:
            self._frame = self._compressor.compressobj(size=-1)
            self._frame_input, self._crc = 0, 0
        if payload:
            payload, self._crc = checks.mark_group(payload, self._crc)
        self._frame_input += len(payload)
        data = head + self._frame.compress(payload)
        if self._frame_input >= self.frame_size:
            return data + self._finish()
        return data + self._frame.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)

    def _finish(self) -> bytes:
        frame, self._frame = self._frame, None
        return frame.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH) if frame is not None else b""

    def write(self, records: Iterable[dict[str, Any]]) -> int:
        """Append ``records`` as one group; return the bytes written."""
        return self.write_bytes(self.encode(records))

    def finish_frame(self) -> int:
        """End the open frame (its checksum and end mark); return the bytes written."""
        return self.write_bytes(self._finish())

    close = finish_frame

    def write_bytes(self, data: bytes) -> int:
        view = memoryview(data)
        while view:  # a raw file may write less than asked
            written = self._fo.write(view)
            view = view[written if written is not None else len(view) :]
        return len(data)


class ExpandedPaths(list[Path]):
    """Snapshot files already found by :func:`expand` (so they are not looked up twice)."""

    @property
    def total_size(self) -> int:
        total = 0
        for path in self:
            with reading(path):
                total += path.stat().st_size
        return total


def expand(paths: Iterable[str | os.PathLike[str]]) -> ExpandedPaths:
    """Snapshot files named by ``paths``: files, directories (their ``*.jsonl.zst``) or globs."""
    found: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            found += sorted(path.glob(f"*{SUFFIX}"))
        elif path.is_file():
            found.append(path)
        elif glob.has_magic(str(entry)):
            found += sorted(Path(p) for p in glob.glob(str(entry)) if Path(p).is_file())
        else:
            raise SnapshotError(f"no such snapshot file or directory: {entry}")
    return ExpandedPaths(dict.fromkeys(found))


_NAME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d(?:\.\d+)?Z-(?P<writer>.+?)(?:_\d{4,})?\.jsonl\.zst$")


def writer_of(path: Path) -> str:
    """Which process wrote ``path``: its files are read one after another."""
    match = _NAME.match(path.name)
    return f"{path.parent}/{match.group('writer')}" if match else str(path)


def writers(files: Iterable[Path]) -> list[list[Path]]:
    """``files`` by the process that wrote them (:func:`writer_of`), each writer's in name
    (= time) order: the streams :func:`iter_records` merges."""
    by_writer: dict[str, list[Path]] = {}
    for path in sorted(files, key=lambda p: p.name):
        by_writer.setdefault(writer_of(path), []).append(path)
    return list(by_writer.values())


def iter_records(
    paths: Iterable[str | os.PathLike[str]],
    *,
    on_warning: Warn = ignore,
    on_progress: Progress = ignore,
    answers: bool = False,
) -> Iterator[Record]:
    """Records from every snapshot under ``paths``, in receive-time order, streaming.

    Files of one writer are read in name (= time) order; several writers' streams are
    merged by ``received_at``, so only one file per writer is open at a time. Answer
    records (forward mode, :mod:`sentry_mirror.core.answer`) are left out unless ``answers``.
    """
    files = paths if isinstance(paths, ExpandedPaths) else expand(paths)
    streams = [
        itertools.chain.from_iterable(_read_path(p, on_warning, on_progress, answers) for p in group)
        for group in writers(files)
    ]
    yield from merge_writers(streams)


def merge_writers(streams: Sequence[Iterator[Record]]) -> Iterator[Record]:
    """The records of several writers' streams (each in receive-time order) as one, merged
    by ``received_at``: the one ordering rule of :func:`iter_records` and ``--jobs`` windows."""
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=lambda record: record.data["received_at"])


@contextmanager
def reading(path: str | Path) -> Iterator[None]:
    """Around reading snapshot ``path``: an OSError (the file gone, unreadable) is the user's
    :class:`SnapshotError`, the same text wherever the file is read."""
    try:
        yield
    except OSError as exc:
        raise SnapshotError(f"cannot read snapshot {path}: {exc.strerror}") from None


def _read_path(path: Path, on_warning: Warn, on_progress: Progress, answers: bool) -> Iterator[Record]:
    with reading(path), path.open("rb") as fo:
        yield from read_records(fo, name=str(path), on_warning=on_warning, on_progress=on_progress, answers=answers)
