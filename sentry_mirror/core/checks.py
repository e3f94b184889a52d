"""The checks in a snapshot file that let a reader tell a damaged record from a good one.

A file written with checks starts with :data:`HEADER`, a zstd *skippable* frame (every zstd
tool skips it), which says that the file carries them. Then:

- every zstd frame has zstd's content checksum (XXH64), which covers a *finished* frame;
- the last line of every group of records (one group commit) ends with a *group mark*:
  a tab and 32 tabs or spaces (bit 1 or 0 of a CRC-32, most significant first) before
  its newline. The CRC-32 runs over the frame's lines from the frame's start to this
  group's end, marks left out (each line as ``dumps`` wrote it, newline included). JSON
  allows whitespace after a value, so ``zstdcat | jq`` and every JSON reader take these
  lines as they are, and a record's JSON never holds a raw tab (it is escaped), so the
  first tab of a line is the start of its mark.

The marks protect what zstd's checksum cannot: the groups of a frame that was never
finished (a listener still writing, or killed), and the groups before the damage in a
frame that fails. Pure functions over bytes: the reader and writer are in
:mod:`sentry_mirror.io.snapshot`.
"""

from __future__ import annotations

import zlib

#: A zstd skippable frame (magic 0x184D2A5E, then the payload's length, then the payload).
HEADER_MAGIC = (0x184D2A5E).to_bytes(4, "little")
HEADER_PAYLOAD = b"sentry-mirror snapshot; checks: zstd frame checksums, crc32 group marks"
HEADER = HEADER_MAGIC + len(HEADER_PAYLOAD).to_bytes(4, "little") + HEADER_PAYLOAD
#: Where a skippable frame starts: its magic's low nibble is free (0x184D2A50 to 0x184D2A5F).
SKIPPABLE_TAIL = HEADER_MAGIC[1:]

#: A mark is a tab, 32 bit characters, then the line's newline.
MARK_SIZE = 1 + 32
_BITS = [bytes(0x09 if byte >> (7 - i) & 1 else 0x20 for i in range(8)) for byte in range(256)]
_FROM_MARK = bytes(ord("1") if c == 0x09 else ord("0") if c == 0x20 else ord("x") for c in range(256))


def mark(crc: int) -> bytes:
    """The mark for a running CRC-32 (without the newline)."""
    bits = _BITS
    return b"\t" + bits[crc >> 24] + bits[crc >> 16 & 255] + bits[crc >> 8 & 255] + bits[crc & 255]


def mark_group(payload: bytes, crc: int) -> tuple[bytes, int]:
    """``payload`` (whole lines) with its last line marked, and the new running CRC."""
    crc = zlib.crc32(payload, crc)
    bits = _BITS  # mark(crc), inlined: the listener calls this once per group commit
    return b"".join(
        (payload[:-1], b"\t", bits[crc >> 24], bits[crc >> 16 & 255], bits[crc >> 8 & 255], bits[crc & 255], b"\n")
    ), crc


def read_mark(data: bytes | memoryview, at: int) -> int | None:
    """The CRC in the mark starting at ``at`` (a tab), or None when it is no mark."""
    if len(data) <= at + MARK_SIZE or data[at + MARK_SIZE] != 0x0A:
        return None
    try:
        return int(bytes(data[at + 1 : at + MARK_SIZE]).translate(_FROM_MARK), 2)
    except ValueError:  # a character that is neither tab nor space
        return None


def checked_prefix(data: bytes, crc: int) -> tuple[int, int, bool]:
    """How much of ``data`` (a frame's decoded lines, from a verified point whose running
    CRC is ``crc``) passes its group marks: ``(end, crc at end, failed)``. ``end`` is just
    after the last good mark's newline; ``failed`` is true when a mark did not match (or was
    malformed): nothing after ``end`` can be trusted then."""
    view = memoryview(data)
    start = 0
    while (tab := data.find(b"\t", start)) >= 0:
        if len(data) <= tab + MARK_SIZE:
            break  # a mark not all decoded yet
        expected = read_mark(data, tab)
        running = zlib.crc32(b"\n", zlib.crc32(view[start:tab], crc))
        if expected is None or expected != running:
            return start, crc, True
        start, crc = tab + MARK_SIZE + 1, running
    return start, crc, False
