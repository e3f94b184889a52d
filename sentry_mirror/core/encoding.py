"""Request-body decoding by Content-Encoding, in bounded steps, with a size cap.

Relay accepts ``gzip``, ``deflate`` (zlib-wrapped), ``br`` and ``zstd``, ignores an
empty or ``UTF-8`` Content-Encoding (sent by old sentry-ruby and sentry-java), and
answers 415 for anything else. Limits apply to the decoded size, so a tiny gzip bomb
must be stopped while it inflates: each codec here produces output in chunks of at
most ``CHUNK`` bytes and gives up with :class:`BodyTooLarge` as soon as the cap is
passed, whatever the compression ratio.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Iterator
from typing import NoReturn

import brotli
import zstandard

from sentry_mirror.core.checks import SKIPPABLE_TAIL
from sentry_mirror.errors import BodyTooLarge, DecodeError, UnsupportedEncoding

CHUNK = 256 * 1024
#: Relay's ``max_envelope_size``: the default cap on a decoded body.
DEFAULT_MAX_BODY = 200 * 1024 * 1024

_IGNORED = frozenset({"", "identity", "utf-8"})


def normalize_encoding(header: str | None) -> str | None:
    """The codec name for a Content-Encoding header value; None means identity.

    Raises :class:`UnsupportedEncoding` for values Relay answers 415 to.
    """
    value = (header or "").strip().lower()
    if value in _IGNORED:
        return None
    if value == "x-gzip":
        return "gzip"
    if value in _CODECS:
        return value
    raise UnsupportedEncoding(f"unsupported Content-Encoding {header!r} (accepted: gzip, deflate, br, zstd)")


def _zlib_chunks(data: bytes, wbits: int) -> Iterator[bytes]:
    obj = zlib.decompressobj(wbits)
    pending = data
    while True:
        out = obj.decompress(pending, CHUNK)
        if out:
            yield out
        pending = obj.unconsumed_tail
        if obj.eof:
            if wbits == 31 and obj.unused_data:
                # gzip allows several members one after another (a loop, not recursion:
                # a body of thousands of tiny members must not exhaust the stack)
                pending = obj.unused_data
                obj = zlib.decompressobj(wbits)
                continue
            return
        if not pending and not out:
            raise DecodeError("truncated body: the compressed stream ends early")


def _gzip(data: bytes) -> Iterator[bytes]:
    return _zlib_chunks(data, 31)


def _deflate(data: bytes) -> Iterator[bytes]:
    # HTTP "deflate" is zlib-wrapped (RFC 1950); some clients send raw deflate instead.
    return _zlib_chunks(data, 15 if _is_zlib(data) else -15)


def _is_zlib(data: bytes) -> bool:
    return len(data) >= 2 and (data[0] * 256 + data[1]) % 31 == 0 and data[0] & 0x0F == 8


def _brotli(data: bytes) -> Iterator[bytes]:
    obj = brotli.Decompressor()
    out = obj.process(data, output_buffer_limit=CHUNK)
    while True:
        if obj.is_finished():
            if out:
                yield out
            return
        if not out:
            # all the input went in with the first call: a step that gives nothing and does
            # not finish needs more. (can_accept_more_data() is no test: after a step cut
            # short by the output limit it can say True with output still to come, and a
            # 40 MiB body from 7 KB of brotli was refused as truncated.)
            raise DecodeError("truncated body: the brotli stream ends early")
        yield out
        out = obj.process(b"", output_buffer_limit=CHUNK)


_ZSTD_MAGIC = 0xFD2FB528
_FCS_SIZES = (0, 2, 4, 8)
_DICT_ID_SIZES = (0, 1, 2, 4)


ZSTD_MAGIC_BYTES = _ZSTD_MAGIC.to_bytes(4, "little")


def zstd_frame_end(data: bytes, pos: int = 0) -> int | None:
    """Where the zstd or skippable frame starting at ``pos`` ends, by walking its frame and
    block headers: the one frame walk (snapshot frame index, ``sql``'s check, bodies).

    Returns None when ``data`` ends inside the frame (truncated) or a block header is
    damaged (a reserved block type: nothing past it is whole), and raises
    :class:`DecodeError` when no frame starts at ``pos`` (bad magic, or the reserved bit of
    the frame header set). It decompresses nothing, so it is cheap (checksums are not
    verified: that needs the content); RFC 8878, sections 3.1.1 and 3.1.2.
    """
    return _walk_frame(data, pos)[0]


def zstd_complete_prefix(data: bytes) -> int:
    """For a frame at the start of ``data`` that ends early: the length of its part made of
    whole blocks (what a cut-short writer had finished). ``len(data)`` for a whole frame."""
    end, whole = _walk_frame(data, 0)
    return end if end is not None else whole


def _walk_frame(data: bytes, pos: int) -> tuple[int | None, int]:
    """(frame end or None when cut short or damaged, offset after the last whole block)."""
    size = len(data)
    if size - pos < 8:
        head = bytes(data[pos : pos + 4])
        skippable = len(head) > 0 and head[0] & 0xF0 == 0x50 and SKIPPABLE_TAIL.startswith(head[1:])
        return (None, pos) if ZSTD_MAGIC_BYTES.startswith(head) or skippable else _not_zstd(pos)
    magic = int.from_bytes(data[pos : pos + 4], "little")
    if magic & 0xFFFFFFF0 == 0x184D2A50:  # skippable frame
        end = pos + 8 + int.from_bytes(data[pos + 4 : pos + 8], "little")
        return (end, end) if end <= size else (None, pos)
    descriptor = data[pos + 4]
    if magic != _ZSTD_MAGIC or descriptor & 0x08:  # the reserved bit
        return _not_zstd(pos)
    single_segment = descriptor >> 5 & 1
    fcs = _FCS_SIZES[descriptor >> 6] or single_segment
    whole = pos
    pos += 5 + (0 if single_segment else 1) + _DICT_ID_SIZES[descriptor & 3] + fcs
    while True:
        if pos > size:
            return None, whole
        whole = pos
        if pos + 3 > size:
            return None, whole
        block = int.from_bytes(data[pos : pos + 3], "little")
        kind, length = block >> 1 & 3, block >> 3
        if kind == 3:  # reserved: damage
            return None, whole
        pos += 3 + (1 if kind == 1 else length)
        if block & 1:
            break
    if pos > size:
        return None, whole
    pos += 4 if descriptor >> 2 & 1 else 0
    return (pos, pos) if pos <= size else (None, whole)


def _not_zstd(pos: int) -> NoReturn:
    raise DecodeError(f"no zstd frame starts at byte {pos}")


def _zstd_frames_complete(data: bytes) -> bool:
    pos = 0
    while pos < len(data):
        end = zstd_frame_end(data, pos)
        if end is None:
            return False
        pos = end
    return pos > 0


def _zstd(data: bytes) -> Iterator[bytes]:
    try:
        complete = _zstd_frames_complete(data)
    except DecodeError:
        complete = False
    if not complete:
        raise DecodeError("body does not decode as zstd: the stream is truncated or not zstd")
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
    while out := reader.read(CHUNK):
        yield out


_CODECS: dict[str, Callable[[bytes], Iterator[bytes]]] = {
    "gzip": _gzip,
    "deflate": _deflate,
    "br": _brotli,
    "zstd": _zstd,
}


#: Above this many decoded bytes, :func:`decode` stops keeping the chunks, counts the rest,
#: and decodes again into one buffer of the exact size: a body then costs its decoded size
#: once (not chunks plus their join), and a bomb over the cap costs this much, not the cap.
LEAN_ABOVE = 8 * 1024 * 1024


def iter_decoded(encoding: str | None, data: bytes) -> Iterator[bytes]:
    """The decoded body in chunks of at most :data:`CHUNK` bytes (memory bounded whatever
    the ratio); :class:`DecodeError` for a body that does not decode."""
    if encoding is None:
        for start in range(0, len(data), CHUNK):
            yield data[start : start + CHUNK]
        return
    codec = _CODECS.get(encoding)
    if codec is None:
        raise UnsupportedEncoding(f"unsupported Content-Encoding {encoding!r}")
    try:
        yield from codec(data)
    except (zlib.error, brotli.error, zstandard.ZstdError) as exc:
        raise DecodeError(f"body does not decode as {encoding}: {exc}") from None


def _over(encoding: str, max_size: int) -> BodyTooLarge:
    return BodyTooLarge(f"{encoding} body decodes to more than the {max_size}-byte limit")


def decoded_size(encoding: str | None, data: bytes, *, max_size: int = DEFAULT_MAX_BODY) -> int:
    """The decoded size of ``data``, found by decoding it in chunks that are dropped at once
    (memory bounded); raises as :func:`decode` does."""
    if encoding is None:
        if len(data) > max_size:
            raise BodyTooLarge(f"body of {len(data)} bytes is over the {max_size}-byte limit")
        return len(data)
    total = 0
    for chunk in iter_decoded(encoding, data):
        total += len(chunk)
        if total > max_size:
            raise _over(encoding, max_size)
    return total


def decode(encoding: str | None, data: bytes, *, max_size: int = DEFAULT_MAX_BODY) -> bytes:
    """Decode ``data`` compressed with ``encoding`` (a name from :func:`normalize_encoding`).

    Raises :class:`BodyTooLarge` once more than ``max_size`` decoded bytes come out, and
    :class:`DecodeError` for a body that does not decode. Nothing else escapes. Memory:
    at most :data:`LEAN_ABOVE` bytes for a body over the cap, about its decoded size for
    one under it (see :data:`LEAN_ABOVE`).
    """
    if encoding is None:
        if len(data) > max_size:
            raise BodyTooLarge(f"body of {len(data)} bytes is over the {max_size}-byte limit")
        return data
    parts: list[bytes] = []
    total = 0
    chunks = iter_decoded(encoding, data)
    for chunk in chunks:
        total += len(chunk)
        if total > max_size:
            raise _over(encoding, max_size)
        parts.append(chunk)
        if total > LEAN_ABOVE:
            parts.clear()  # a big body: count the rest, then decode it once, whole
            for rest in chunks:
                total += len(rest)
                if total > max_size:
                    raise _over(encoding, max_size)
            return _decode_sized(encoding, data, total)
    return b"".join(parts)


def _decode_sized(encoding: str, data: bytes, total: int) -> bytes:
    """The decoded body, known to be ``total`` bytes: one allocation of that size where the
    codec allows it (a single gzip member, zlib or raw deflate), else chunks joined."""
    if encoding in ("gzip", "deflate"):
        wbits = 31 if encoding == "gzip" else (15 if _is_zlib(data) else -15)
        try:
            whole = zlib.decompress(data, wbits, max(total, 1))
        except zlib.error:
            whole = b""
        if len(whole) == total:
            return whole
        del whole  # several gzip members: the general way
    return b"".join(iter_decoded(encoding, data))
