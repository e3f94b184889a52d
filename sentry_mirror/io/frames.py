"""Where the zstd frames of a snapshot file start and end, found without decompressing it.

A snapshot is a series of zstd frames (:mod:`sentry_mirror.io.snapshot`), each about
:data:`~sentry_mirror.io.snapshot.FRAME_SIZE` bytes of records, after the skippable header
of :mod:`sentry_mirror.core.checks`. :func:`frame_index` walks the frame and block headers
(:func:`~sentry_mirror.core.encoding.zstd_frame_end`: a few bytes each, read through a
memory map: the file is never decompressed) and gives the
byte ranges a reader may start at: each frame is a unit, the header goes with the first one.
The walk is tolerant: from the frame before the first header that does not parse (damage,
a write cut short, a frame still being written; bytes lost inside that frame put its end
there) to the end of the file is one last unit, which the decoder
reads as it reads any file (:class:`~sentry_mirror.io.decoder.RecordDecoder`).

:func:`head_time` decodes just the start of one frame to give the receive time of its first
record (what :mod:`sentry_mirror.io.parallel` cuts captures of several writers by).
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import orjson
import zstandard

from sentry_mirror.core import checks
from sentry_mirror.core.encoding import zstd_frame_end
from sentry_mirror.errors import DecodeError

#: Compressed bytes given to the decompressor at a time when looking for a first record.
_HEAD_STEP = 16 << 10
#: A first record bigger than this (decoded) is not worth planning by: the frame gets no time.
_HEAD_LIMIT = 4 << 20


@dataclass(frozen=True)
class FrameIndex:
    """The units of one file: ``bounds[i]`` to ``bounds[i + 1]`` (the last is the file's
    size); ``checked``: the file starts with the checks header; ``tail``: the last unit is
    not a whole frame (damage, or a write cut short or still going on)."""

    bounds: tuple[int, ...]
    checked: bool
    tail: bool

    @property
    def units(self) -> list[tuple[int, int]]:
        return list(zip(self.bounds, self.bounds[1:], strict=False))


def _frame_end(data: mmap.mmap, at: int) -> int | None:
    """The offset just after the zstd or skippable frame starting at ``at``, or None when its
    headers do not parse or it goes past the end of ``data`` (:func:`~sentry_mirror.core.encoding.zstd_frame_end`)."""
    try:
        return zstd_frame_end(cast(bytes, data), at)
    except DecodeError:
        return None


def frame_index(path: Path, size: int | None = None) -> FrameIndex:
    """The units of ``path`` (its first ``size`` bytes: a file being written grows)."""
    with path.open("rb") as fo:
        length = size if size is not None else fo.seek(0, 2)
        if length == 0:
            return FrameIndex((0, 0), False, False)
        with mmap.mmap(fo.fileno(), length, access=mmap.ACCESS_READ) as data:
            checked = data[: len(checks.HEADER)] == checks.HEADER
            bounds, at, first = [0], len(checks.HEADER) if checked else 0, True
            while at < length and (end := _frame_end(data, at)) is not None:
                if not first:
                    bounds.append(at)  # the first frame's unit starts at 0, with the header
                at, first = end, False
            # A frame is whole only if a frame (or the file's end) follows it: bytes lost
            # inside the last one walked put its "end" inside the next frame. So that frame
            # and the rest are the last unit (the decoder resyncs as it always does).
            tail = at < length
            bounds.append(length)
    return FrameIndex(tuple(bounds), checked, tail)


def head_time(path: Path, start: int, end: int) -> str | None:
    """The ``received_at`` of the first record of the frame at ``start`` (None when it does
    not decode to a record with one)."""
    decompressor = zstandard.ZstdDecompressor().decompressobj()
    out = bytearray()
    with path.open("rb") as fo:
        fo.seek(start)
        if fo.read(len(checks.HEADER)) != checks.HEADER:
            fo.seek(start)
        while (at := fo.tell()) < end and len(out) < _HEAD_LIMIT:
            chunk = fo.read(min(_HEAD_STEP, end - at))
            try:
                out += decompressor.decompress(chunk)
            except zstandard.ZstdError:
                return None
            newline = out.find(b"\n")
            if newline >= 0:
                try:
                    data = orjson.loads(out[:newline])
                except orjson.JSONDecodeError:
                    return None
                value = data.get("received_at") if isinstance(data, dict) else None
                return value if isinstance(value, str) else None
            if decompressor.eof:
                return None
    return None
