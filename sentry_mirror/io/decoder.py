"""Reading snapshot bytes back into records, checked, streaming and tolerant.

:class:`RecordDecoder` takes the bytes of a file as they come (a whole file, or one a
listener is still writing) and gives out the records that pass the file's checks
(:mod:`sentry_mirror.core.checks`), skipping damage with a warning that names the bytes;
:func:`read_records` reads a binary file object with it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import orjson
import zstandard

from sentry_mirror.core import answer, checks
from sentry_mirror.core.compat import migrate
from sentry_mirror.core.encoding import ZSTD_MAGIC_BYTES, zstd_complete_prefix
from sentry_mirror.core.record import RECORD_VERSION, Record
from sentry_mirror.core.shape import problem, skipped, usable
from sentry_mirror.errors import DecodeError, FormatVersionError, SnapshotError

#: Bytes read, and decoded, per step (records before a damaged block are still read). Small
#: enough that a step's output (about six times as much) is reused heap: with 64 KiB, glibc
#: grew and trimmed the heap at every step, and the page faults cost 7% of `group`'s time.
READ_SIZE = 16 << 10

Warn = Callable[[str], None]
#: What the warning about records that nothing could check says (``verify`` tells it apart).
UNCHECKED_NOTE = "was written without checks (by an older sentry-mirror)"
Progress = Callable[[int], None]


def ignore(_: object) -> None:
    pass


_NOT_JSON = object()


def _loads(line: bytes | memoryview) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return _NOT_JSON


@dataclass(frozen=True)
class Damage:
    """Bytes of a file that were skipped: ``start`` to ``end`` (file offsets, end excluded)."""

    start: int
    end: int
    reason: str

    def warning(self, name: str) -> str:
        """What a reader says about it (also about damage joined across :mod:`~sentry_mirror.io.parallel`'s windows)."""
        return (
            f"{name}: skipped {self.end - self.start} damaged bytes at offsets {self.start}-{self.end} ({self.reason})"
        )


@dataclass
class ReadStats:
    """What a :class:`RecordDecoder` found, for ``verify``."""

    checked: bool = False  # the file starts with the checks header (core.checks)
    frames: int = 0  # finished frames whose zstd checksum matched
    unchecked_frames: int = 0  # frames read without any check (older or foreign files)
    open_frame: bool = False  # the file ends in a frame that was never finished
    damage: list[Damage] = field(default_factory=list)


class RecordDecoder:
    """Turns snapshot bytes into records incrementally: :meth:`feed` bytes as they come
    (a whole file, or a file still being written), then :meth:`finish` at the end of input.

    No record is given out before it is checked (:mod:`sentry_mirror.core.checks`): the
    decoded lines of a frame are held until the frame's zstd checksum matches at its end,
    or, with ``live=True`` (following a file being written) and for a frame that fails or
    is never finished, until a group mark covers them. Damage is skipped with a call to
    ``on_warning`` that names the file and the bytes skipped: bytes that are not zstd, a
    frame that stops decoding or fails its checks (decoding resumes at the next frame; the
    groups before the damage that pass their marks are kept), or a last write cut short. A
    last frame that is still open (a listener writing it, or killed between writes) is no
    damage. Files written before the checks existed (no header) read as they always did. A
    record from a newer format version raises :class:`~sentry_mirror.errors.FormatVersionError`.
    ``offset``: where in the file the bytes fed start (a reader starting at a frame boundary,
    :mod:`sentry_mirror.io.parallel`, sets ``stats.checked`` from the file's start too).
    """

    def __init__(
        self,
        name: str = "snapshot",
        on_warning: Warn = ignore,
        *,
        live: bool = True,
        answers: bool = False,
        offset: int = 0,
    ) -> None:
        self.name = name
        self.on_warning = on_warning
        self.live = live
        self.answers = answers  # give out answer records (core/answer.py) too
        self.stats = ReadStats()
        self._decompressor = zstandard.ZstdDecompressor()
        self._frame: Any = None  # decompressobj of the frame being read
        self._frame_raw = bytearray()  # the raw bytes of that frame so far, to resync after damage
        self._frame_start = offset  # file offset of _frame_raw[0] (or of the data, between frames)
        self._held: list[bytes] = []  # decoded bytes of the frame not checked yet
        self._crc = 0  # the running CRC of the frame's lines up to the held bytes
        self._split_mark = False  # the held bytes end inside a group mark (live: check the next output)
        self._pending: list[bytes] = []  # decoded bytes after the last complete line
        self._carry = b""  # undecided bytes (after damage a frame magic may straddle two reads)
        self._damaged_at: int | None = None
        self._damaged_bytes = 0
        self._why = ""
        #: Given the damage instead of ``on_warning`` its text (a window's reader, which may
        #: stop or start inside damage that goes on in the next window: the parent joins them).
        self.on_damage: Callable[[Damage], None] | None = None

    def _damage(self, start: int, size: int, why: str) -> None:
        if self._damaged_at is None:
            self._damaged_at, self._why = start, why
        self._damaged_bytes += size

    def _report(self) -> None:
        if self._damaged_at is not None:
            damage = Damage(self._damaged_at, self._damaged_at + self._damaged_bytes, self._why)
            self.stats.damage.append(damage)
            if self.on_damage is not None:
                self.on_damage(damage)
            else:
                self.on_warning(damage.warning(self.name))
            self._damaged_at, self._damaged_bytes = None, 0

    def feed(self, chunk: bytes) -> Iterator[Record]:
        """The records completed (and checked) by ``chunk``, the next bytes of the file."""
        data, self._carry = self._carry + chunk, b""
        while data:
            if self._frame is None:
                data = self._between_frames(data)
                continue
            try:
                out = self._frame.decompress(data)
            except zstandard.ZstdError as exc:
                why = "zstd: " + str(exc).removeprefix("zstd decompressor error: ")
                kept = yield from self._salvage()
                data = self._resync(
                    data, f"{why}; the {kept} record(s) before it in that frame passed their checks" if kept else why
                )
                continue
            frame = self._frame
            if frame.eof:
                used = len(data) - len(frame.unused_data)
                self._frame_raw += data[:used]
                data = frame.unused_data
            else:
                self._frame_raw += data
                data = b""
            if out:
                self._held.append(out)
            if frame.eof:
                yield from self._frame_end()
            elif out and self.live and (not self.stats.checked or self._split_mark or out.find(b"\t") >= 0):
                if (yield from self._release_checked()):
                    data = self._resync(data, "a group failed its check")

    def _between_frames(self, data: bytes) -> bytes:
        """Start the next frame, or pass over the checks header; the bytes left to read."""
        if data.startswith(checks.HEADER):
            self.stats.checked = True
            self._frame_start += len(checks.HEADER)
            return data[len(checks.HEADER) :]
        if (len(data) < len(checks.HEADER) and checks.HEADER.startswith(data)) or len(data) < 4:
            self._carry = data  # not enough to tell yet
            return b""
        if data[0] & 0xF0 == 0x50 and data[1:4] == checks.SKIPPABLE_TAIL:
            self._frame_raw = bytearray()  # no skippable frame but the header belongs in a snapshot
            return self._resync(data, "not a sentry-mirror frame")
        self._frame, self._frame_raw, self._held, self._crc, self._pending = (
            self._decompressor.decompressobj(),
            bytearray(),
            [],
            0,
            [],
        )
        return data

    def _resync(self, data: bytes, why: str) -> bytes:
        """Damage in the frame being read: skip to the next frame magic after its first byte."""
        raw = bytes(self._frame_raw) + data
        following = min(
            (at for magic in (ZSTD_MAGIC_BYTES, checks.HEADER_MAGIC) if (at := raw.find(magic, 1)) >= 0), default=-1
        )
        skip = following if following >= 0 else max(1, len(raw) - 3)
        self._damage(self._frame_start, skip, why)
        self._frame_start += skip
        self._frame, self._held = None, []
        if following >= 0:
            return raw[skip:]
        self._carry = raw[skip:]
        return b""

    def _frame_end(self) -> Iterator[Record]:
        """A frame ended (zstd checked its checksum, if it has one): give out its records."""
        try:
            has_checksum = zstandard.get_frame_parameters(bytes(self._frame_raw[:18])).has_checksum
        except zstandard.ZstdError:
            has_checksum = False
        start, size = self._frame_start, len(self._frame_raw)
        self._frame = None
        try:  # the next frame starts after this one once its lines are out (warnings name this one)
            if has_checksum:
                self.stats.frames += 1
            elif not self.stats.checked:
                self.stats.unchecked_frames += 1  # a frame another tool wrote: nothing to check it with
            else:
                kept = yield from self._release_checked(count=True)
                if self._held:
                    self._damage(
                        start, size, f"a frame without its checksum failed its group checks after {kept} records"
                    )
                    self._held = []
                    return
            held, self._held = self._held, []
            yield from self._release(held)
        finally:
            self._frame_start = start + size

    def _release(self, outs: list[bytes]) -> Iterator[Record]:
        for out in outs:
            newline = out.find(b"\n")
            if newline >= 0:
                self._report()
                yield from self._records(out, newline)
            elif out:
                self._pending.append(out)  # part of a big record: joined once it is whole

    def _release_checked(self, *, count: bool = False) -> Generator[Record, None, int | bool]:
        """Give out the held lines that pass their group marks (all of them in a file without
        checks). Returns whether a mark failed, or with ``count`` how many records went out."""
        held, self._held = self._held, []
        if not self.stats.checked and self._has_marks(held):
            self.stats.checked = True
        if not self.stats.checked:
            end, failed, checked = sum(len(out) for out in held), False, held
        else:
            blob = held[0] if len(held) == 1 else b"".join(held)
            end, self._crc, failed = checks.checked_prefix(blob, self._crc)
            checked, self._held = [blob[:end]] if end else [], [blob[end:]] if end < len(blob) else []
            self._split_mark = end < len(blob) and blob.find(b"\t", end) >= 0  # a mark not all decoded yet
        if not count:
            yield from self._release(checked)
            return failed
        kept = 0
        for record in self._release(checked):
            kept += 1
            yield record
        return kept

    @staticmethod
    def _has_marks(held: list[bytes]) -> bool:
        """Decoded lines with group marks (a raw tab): a file with checks whose header was lost."""
        return any(out.find(b"\t") >= 0 for out in held)

    def _salvage(self) -> Generator[Record, None, int]:
        """The frame being read is damaged: give out the groups before the damage that pass
        their marks (none in a file without checks: nothing there can be trusted); how many."""
        kept = 0
        if self.stats.checked or self._has_marks(self._held):
            kept = yield from self._release_checked(count=True)
        self._held = []
        return int(kept)

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
                self.on_warning(
                    f"{self.name}: skipped a line that is not JSON in the frame at offset {self._frame_start}"
                )
            return
        try:
            data = migrate(data)
        except FormatVersionError as exc:
            raise FormatVersionError(f"{self.name}: {exc}") from None
        except SnapshotError as exc:
            self.on_warning(f"{self.name}: skipped a line in the frame at offset {self._frame_start}: {exc}")
            return
        if answer.is_answer(data):  # what a server said to a request sent on (forward mode)
            wrong = answer.problem(data)
            if wrong is None:
                if self.answers:
                    yield Record(data)
                return
        else:
            wrong = problem(data)
        if wrong is None:
            yield Record(data)
        else:  # a reader would fail on it: named, and skipped
            self.on_warning(skipped(f"{self.name} (frame at offset {self._frame_start})", data, wrong))

    def finish(self) -> Iterator[Record]:
        """The input is over: the checked records of a frame left open, and what was lost."""
        if self._carry:
            self._damage(self._frame_start, len(self._carry), "the file ends in a frame header")
            self._frame_start += len(self._carry)
            self._carry = b""
        self._report()
        if self._frame is None or not (self._frame_raw or self._held):
            return
        # A frame still open (the listener is writing it, or was killed): the groups that pass
        # their marks are good. Anything after the last whole block is a write cut short.
        self.stats.open_frame = True
        start, raw = self._frame_start, bytes(self._frame_raw)
        try:
            whole = zstd_complete_prefix(raw)
        except DecodeError:
            whole = 0
        failed = yield from self._release_checked()
        unchecked = sum(len(out) for out in self._held) + sum(len(p) for p in self._pending)
        self._held, self._pending, self._frame = [], [], None
        if failed:
            self._damage(start, len(raw), "an unfinished frame failed its group checks")
            self._report()
        elif whole < len(raw) or unchecked:
            self.stats.damage.append(Damage(start + whole, start + len(raw), "cut short"))
            self.on_warning(
                f"{self.name}: skipped {len(raw) - whole} bytes at offset {start + whole}: "
                "the file ends in the middle of a write (cut short)"
            )
        if not self.stats.checked:
            self.stats.unchecked_frames += 1
            self.on_warning(
                f"{self.name}: the unfinished frame at offset {start} {UNCHECKED_NOTE}: its records could not be verified"
            )

    def end(self) -> None:
        """The input is over, for a ``live`` decoder (which gives out every checked record
        as it comes, so there is none left): report what was lost."""
        for _ in self.finish():
            pass


def read_records(
    fo: BinaryIO,
    *,
    name: str = "snapshot",
    on_warning: Warn = ignore,
    on_progress: Progress = ignore,
    answers: bool = False,
) -> Iterator[Record]:
    """Every record in ``fo``, in file order, streaming, in memory bounded by a frame.

    Damage is reported and skipped as :class:`RecordDecoder` describes. Answer records
    (:mod:`sentry_mirror.core.answer`) are left out unless ``answers``.
    """
    decoder = RecordDecoder(name, on_warning, live=False, answers=answers)
    while chunk := fo.read(READ_SIZE):
        on_progress(len(chunk))
        yield from decoder.feed(chunk)
    yield from decoder.finish()
