"""Snapshot files: zstd-compressed JSON lines, written in groups of records.

:class:`SnapshotWriter` and :func:`read_records` work on binary file objects (as
mitmproxy's ``FlowWriter``/``FlowReader`` do); :func:`iter_records` adds paths,
directories and globs, and merges several writers' files in receive-time order.

Reading is streaming and tolerant: a file cut short (kill -9, a full disk) gives every
complete record, and a file damaged in the middle is read up to and around the damage
(resuming at the next zstd frame), with a warning that says how many bytes were skipped.
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
from sentry_mirror.core.encoding import ZSTD_MAGIC_BYTES, zstd_complete_prefix
from sentry_mirror.core.record import RECORD_VERSION, Record, dumps
from sentry_mirror.core.shape import problem, skipped, usable
from sentry_mirror.errors import DecodeError, FormatVersionError, SnapshotError

SUFFIX = ".jsonl.zst"
#: Bytes read, and decoded, per step (records before a damaged block are still read). Small
#: enough that a step's output (about six times as much) is reused heap: with 64 KiB, glibc
#: grew and trimmed the heap at every step, and the page faults cost 7% of `group`'s time.
READ_SIZE = 16 << 10

Warn = Callable[[str], None]
Progress = Callable[[int], None]


#: A zstd frame is finished once this many uncompressed bytes went into it, so damage
#: to a file costs at most one frame's records, and readers never hold more than that.
FRAME_SIZE = 1 << 20
#: zstd level: on real SDK records 2 is both faster and smaller than the library's default 3
#: (records compress against the ones before them in the frame, flushed at every group).
LEVEL = 2


class SnapshotWriter:
    """Appends groups of records to a binary file object.

    One compression stream runs across the records of a frame, so each record is
    compressed against the ones before it (far smaller than a frame per record). After
    each group the stream is flushed to a block boundary: everything written so far
    decodes, even if the file is cut right after. A frame is finished every
    :data:`FRAME_SIZE` bytes, on :meth:`finish_frame` and on :meth:`close`.
    """

    def __init__(self, fo: BinaryIO, *, level: int = LEVEL, frame_size: int = FRAME_SIZE) -> None:
        self._fo = fo
        self._compressor = zstandard.ZstdCompressor(level=level, write_checksum=True)
        self._frame: Any = None  # the zstd compressobj of the open frame
        self._frame_input = 0
        self.frame_size = frame_size

    @property
    def frame_open(self) -> bool:
        return self._frame is not None

    def encode(self, records: Iterable[dict[str, Any]]) -> bytes:
        """The bytes that append ``records`` (call :meth:`write_bytes` with them next, in order)."""
        payload = b"".join(dumps(record) for record in records)
        if self._frame is None:
            self._frame = self._compressor.compressobj(size=-1)
            self._frame_input = 0
        self._frame_input += len(payload)
        data = self._frame.compress(payload)
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


def _ignore(_: object) -> None:
    pass


_NOT_JSON = object()


def _loads(line: bytes | memoryview) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return _NOT_JSON


class RecordDecoder:
    """Turns snapshot bytes into records incrementally: :meth:`feed` bytes as they come
    (a whole file, or a file still being written), then :meth:`end` at the end of input.

    Damage is skipped with a call to ``on_warning`` that says how many bytes were lost
    and where: bytes that are not zstd, or a frame that stops decoding (decoding resumes
    at the next frame), or a last write cut short. A last frame that is still open (a
    listener writing it, or killed between writes) is no damage. A record from a newer
    format version raises :class:`~sentry_mirror.errors.FormatVersionError`.
    """

    def __init__(self, name: str = "snapshot", on_warning: Warn = _ignore) -> None:
        self.name = name
        self.on_warning = on_warning
        self._decompressor = zstandard.ZstdDecompressor()
        self._frame: Any = None  # decompressobj of the frame being read
        self._frame_raw = bytearray()  # the raw bytes of that frame so far, to resync after damage
        self._frame_start = 0  # file offset of _frame_raw[0] (or of the data, between frames)
        self._pending: list[bytes] = []  # decoded bytes after the last complete line
        self._carry = b""  # undecided bytes after damage (a frame magic may straddle two reads)
        self._damaged_at: int | None = None
        self._damaged_bytes = 0

    def _report(self) -> None:
        if self._damaged_at is not None:
            self.on_warning(f"{self.name}: skipped {self._damaged_bytes} damaged bytes at offset {self._damaged_at}")
            self._damaged_at, self._damaged_bytes = None, 0

    def feed(self, chunk: bytes) -> Iterator[Record]:
        """The records completed by ``chunk`` (the next bytes of the file)."""
        data, self._carry = self._carry + chunk, b""
        while data:
            if self._frame is None:
                self._frame, self._frame_raw, self._pending = self._decompressor.decompressobj(), bytearray(), []
            try:
                out = self._frame.decompress(data)
            except zstandard.ZstdError:
                # damage: resume at the next frame magic after this frame's first byte
                raw = bytes(self._frame_raw) + data
                following = raw.find(ZSTD_MAGIC_BYTES, 1)
                skip = following if following >= 0 else max(1, len(raw) - 3)
                if self._damaged_at is None:
                    self._damaged_at = self._frame_start
                self._damaged_bytes += skip
                self._frame_start += skip
                self._frame = None
                if following >= 0:
                    data = raw[skip:]
                else:
                    data, self._carry = b"", raw[skip:]
                continue
            frame = self._frame
            if frame.eof:
                used = len(data) - len(frame.unused_data)
                self._frame_raw += data[:used]
                data = frame.unused_data
            else:
                self._frame_raw += data
                data = b""
            newline = out.find(b"\n")
            if newline >= 0:
                self._report()
                yield from self._records(out, newline)
            elif out:
                self._pending.append(out)  # part of a big record: joined once it is whole
            if frame.eof:
                self._frame_start += len(self._frame_raw)
                self._frame = None

    def _records(self, out: bytes, newline: int) -> Iterator[Record]:
        """The records of the lines that ``out`` completes (``newline``: its first newline),
        parsed from views of ``out`` where they lie whole in it (records are kilobytes:
        copying them costs); keeps the rest for the next output."""
        pending = self._pending
        first = b"".join(pending) + out[:newline] if any(pending) else out[:newline]
        yield from self._record(first, _loads(first))
        view, find, start = memoryview(out), out.find, newline + 1
        loads, current = orjson.loads, RECORD_VERSION
        while (end := find(b"\n", start)) >= 0:
            line = view[start:end]
            start = end + 1
            try:
                data = loads(line)
            except orjson.JSONDecodeError:
                data = _NOT_JSON
            if type(data) is dict and type(version := data.get("v")) is int and version == current and usable(data):
                yield Record(data)  # migrate's common case
            else:
                yield from self._record(line, data)
        self._pending = [out[start:]]

    def _record(self, line: bytes | memoryview, data: Any) -> Iterator[Record]:
        """The record on ``line`` (``data``: its JSON, or :data:`_NOT_JSON`), or a warning."""
        if data is _NOT_JSON:
            if bytes(line).strip():  # blank lines are no damage
                self.on_warning(f"{self.name}: skipped a line that is not JSON in the frame at offset {self._frame_start}")
            return
        try:
            data = migrate(data)
        except FormatVersionError as exc:
            raise FormatVersionError(f"{self.name}: {exc}") from None
        except SnapshotError as exc:
            self.on_warning(f"{self.name}: skipped a line in the frame at offset {self._frame_start}: {exc}")
            return
        wrong = problem(data)
        if wrong is None:
            yield Record(data)
        else:  # a reader would fail on it: named, and skipped
            self.on_warning(skipped(f"{self.name} (frame at offset {self._frame_start})", data, wrong))

    def end(self) -> None:
        """The input is over: report what was left undecoded."""
        if self._carry:
            if self._damaged_at is None:
                self._damaged_at = self._frame_start
            self._damaged_bytes += len(self._carry)
            self._carry = b""
        self._report()
        if self._frame is not None and self._frame_raw:
            # A frame still open (the listener is writing it, or was killed) is fine when it
            # ends on a block boundary: every group written so far was read. Anything after
            # the last whole block is a write that was cut short.
            try:
                lost = len(self._frame_raw) - zstd_complete_prefix(bytes(self._frame_raw))
            except DecodeError:
                lost = len(self._frame_raw)
            if lost or any(self._pending):
                self.on_warning(
                    f"{self.name}: skipped {lost} bytes at offset {self._frame_start + len(self._frame_raw) - lost}: "
                    "the file ends in the middle of a write (cut short)"
                )


def read_records(
    fo: BinaryIO, *, name: str = "snapshot", on_warning: Warn = _ignore, on_progress: Progress = _ignore
) -> Iterator[Record]:
    """Every record in ``fo``, in file order, streaming, in memory bounded by a frame.

    Damage is reported and skipped as :class:`RecordDecoder` describes.
    """
    decoder = RecordDecoder(name, on_warning)
    while chunk := fo.read(READ_SIZE):
        on_progress(len(chunk))
        yield from decoder.feed(chunk)
    decoder.end()


class ExpandedPaths(list[Path]):
    """Snapshot files already found by :func:`expand` (so they are not looked up twice)."""

    @property
    def total_size(self) -> int:
        return sum(path.stat().st_size for path in self)


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


def _writer(path: Path) -> str:
    """Which process wrote ``path``: its files are read one after another."""
    match = _NAME.match(path.name)
    return f"{path.parent}/{match.group('writer')}" if match else str(path)


def iter_records(
    paths: Iterable[str | os.PathLike[str]], *, on_warning: Warn = _ignore, on_progress: Progress = _ignore
) -> Iterator[Record]:
    """Records from every snapshot under ``paths``, in receive-time order, streaming.

    Files of one writer are read in name (= time) order; several writers' streams are
    merged by ``received_at``, so only one file per writer is open at a time.
    """
    files = paths if isinstance(paths, ExpandedPaths) else expand(paths)
    by_writer: dict[str, list[Path]] = {}
    for path in sorted(files, key=lambda p: p.name):
        by_writer.setdefault(_writer(path), []).append(path)
    streams = [itertools.chain.from_iterable(_read_path(p, on_warning, on_progress) for p in group) for group in by_writer.values()]
    if len(streams) == 1:
        yield from streams[0]
        return
    yield from heapq.merge(*streams, key=lambda record: record.data["received_at"])


def _read_path(path: Path, on_warning: Warn, on_progress: Progress) -> Iterator[Record]:
    try:
        fo = path.open("rb")
    except OSError as exc:
        raise SnapshotError(f"cannot read snapshot {path}: {exc.strerror}") from None
    with fo:
        try:
            yield from read_records(fo, name=str(path), on_warning=on_warning, on_progress=on_progress)
        except OSError as exc:
            raise SnapshotError(f"cannot read snapshot {path}: {exc.strerror}") from None
