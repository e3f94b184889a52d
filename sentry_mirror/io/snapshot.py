"""Snapshot files: zstd-compressed JSON lines, one zstd frame per group of records.

:class:`SnapshotWriter` and :func:`read_records` work on binary file objects (as
mitmproxy's ``FlowWriter``/``FlowReader`` do); :func:`iter_records` adds paths,
directories and globs, and merges several writers' files in receive-time order.

Reading is streaming and tolerant: frames are found by walking zstd's frame headers,
so a file cut short (kill -9, a full disk) or damaged in the middle is read up to
and around the damage, with a warning that says how many bytes were skipped.
"""

from __future__ import annotations

import glob
import heapq
import itertools
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import zstandard

from sentry_mirror.core.compat import migrate
from sentry_mirror.core.encoding import ZSTD_MAGIC_BYTES, zstd_frame_end
from sentry_mirror.core.record import Record
from sentry_mirror.errors import DecodeError, FormatVersionError, SnapshotError

SUFFIX = ".jsonl.zst"
READ_SIZE = 1 << 20

Warn = Callable[[str], None]


class SnapshotWriter:
    """Appends groups of records to a binary file object, one zstd frame per group."""

    def __init__(self, fo: BinaryIO, *, level: int = 3) -> None:
        self._fo = fo
        self._compressor = zstandard.ZstdCompressor(level=level, write_checksum=True)

    def encode(self, records: Iterable[dict[str, Any]]) -> bytes:
        """The frame for ``records`` (separate from writing, so it can run in a thread)."""
        payload = b"".join(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE) for record in records)
        return self._compressor.compress(payload)

    def write(self, records: Iterable[dict[str, Any]]) -> int:
        """Write ``records`` as one frame; return the bytes written."""
        return self.write_frame(self.encode(records))

    def write_frame(self, frame: bytes) -> int:
        view = memoryview(frame)
        while view:  # a raw file may write less than asked
            written = self._fo.write(view)
            view = view[written if written is not None else len(view) :]
        return len(frame)


def _ignore(message: str) -> None:
    pass


def read_records(fo: BinaryIO, *, name: str = "snapshot", on_warning: Warn = _ignore) -> Iterator[Record]:
    """Every record in ``fo``, in file order, in constant memory (one frame at a time).

    Damage is skipped with a call to ``on_warning`` that says how many bytes were lost:
    bytes that are not a frame, a frame that does not decompress, or a last frame cut
    short. A record from a newer format version raises
    :class:`~sentry_mirror.errors.FormatVersionError`.
    """
    decompressor = zstandard.ZstdDecompressor()
    buffer, offset, pos, eof = b"", 0, 0, False  # offset: file position of buffer[0]
    damaged_at: int | None = None  # file position where the current damaged run began

    def report_damage(until: int) -> None:
        nonlocal damaged_at
        if damaged_at is not None:
            on_warning(f"{name}: skipped {until - damaged_at} damaged bytes at offset {damaged_at}")
            damaged_at = None

    while True:
        try:
            end = zstd_frame_end(buffer, pos) if pos < len(buffer) else None
            damaged = False
        except DecodeError:
            end, damaged = None, True
        if end is None and not damaged:
            if not eof:
                chunk = fo.read(READ_SIZE)
                eof = not chunk
                buffer, offset, pos = buffer[pos:] + chunk, offset + pos, 0
                continue
            if pos >= len(buffer):
                report_damage(offset + pos)
                return
            if damaged_at is None:
                on_warning(
                    f"{name}: skipped {len(buffer) - pos} bytes at offset {offset + pos}: "
                    "the file ends inside a frame (cut short while being written?)"
                )
                return
            damaged = True
        if end is not None:
            try:
                text = decompressor.decompressobj().decompress(buffer[pos:end])
            except zstandard.ZstdError:
                damaged = True
            else:
                report_damage(offset + pos)
                yield from _records(text, name, offset + pos, on_warning)
                pos = end
                continue
        # damage at pos: skip to the next thing that looks like a frame
        if damaged_at is None:
            damaged_at = offset + pos
        following = buffer.find(ZSTD_MAGIC_BYTES, pos + 1)
        if following >= 0:
            pos = following
        elif eof:
            pos = len(buffer)
        else:
            keep = max(pos + 1, len(buffer) - 3)  # a magic may straddle two reads
            buffer, offset, pos = buffer[keep:], offset + keep, 0


def _records(text: bytes, name: str, frame_offset: int, on_warning: Warn) -> Iterator[Record]:
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError:
            on_warning(f"{name}: skipped a line that is not JSON in the frame at offset {frame_offset}")
            continue
        try:
            yield Record(migrate(data))
        except FormatVersionError as exc:
            raise FormatVersionError(f"{name}: {exc}") from None
        except SnapshotError as exc:
            on_warning(f"{name}: skipped a line in the frame at offset {frame_offset}: {exc}")


def expand(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
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
    return list(dict.fromkeys(found))


_NAME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d(?:\.\d+)?Z-(?P<writer>.+?)(?:_\d{4,})?\.jsonl\.zst$")


def _writer(path: Path) -> str:
    """Which process wrote ``path``: its files are read one after another."""
    match = _NAME.match(path.name)
    return f"{path.parent}/{match.group('writer')}" if match else str(path)


def iter_records(paths: Iterable[str | os.PathLike[str]], *, on_warning: Warn = _ignore) -> Iterator[Record]:
    """Records from every snapshot under ``paths``, in receive-time order, streaming.

    Files of one writer are read in name (= time) order; several writers' streams are
    merged by ``received_at``, so only one file per writer is open at a time.
    """
    files = expand(paths)
    by_writer: dict[str, list[Path]] = {}
    for path in sorted(files, key=lambda p: p.name):
        by_writer.setdefault(_writer(path), []).append(path)
    streams = [itertools.chain.from_iterable(_read_path(p, on_warning) for p in group) for group in by_writer.values()]
    if len(streams) == 1:
        yield from streams[0]
        return
    yield from heapq.merge(*streams, key=lambda record: record.data["received_at"])


def _read_path(path: Path, on_warning: Warn) -> Iterator[Record]:
    try:
        fo = path.open("rb")
    except OSError as exc:
        raise SnapshotError(f"cannot read snapshot {path}: {exc.strerror}") from None
    with fo:
        try:
            yield from read_records(fo, name=str(path), on_warning=on_warning)
        except OSError as exc:
            raise SnapshotError(f"cannot read snapshot {path}: {exc.strerror}") from None
