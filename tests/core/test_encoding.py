"""Content-Encoding: accepted names, every codec's round trip, broken bodies, and bombs."""

from __future__ import annotations

import functools
import gzip
import struct
import tracemalloc
import zlib
from collections.abc import Callable

import brotli
import pytest
import zstandard
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sentry_mirror.core import encoding
from sentry_mirror.errors import BodyTooLarge, DecodeError, MirrorError, UnsupportedEncoding
from tests.factories import make_envelope

MIB = 1024 * 1024
DATA = make_envelope() * 50 + bytes(range(256))


def _raw_deflate(data: bytes) -> bytes:
    obj = zlib.compressobj(9, zlib.DEFLATED, -15)
    return obj.compress(data) + obj.flush()


def _zstd_frames(data: bytes) -> bytes:
    """Two zstd frames with a skippable frame between them, as concatenated streams look."""
    half = len(data) // 2
    skippable = struct.pack("<II", 0x184D2A50, 4) + b"skip"
    compressor = zstandard.ZstdCompressor()
    return compressor.compress(data[:half]) + skippable + compressor.compress(data[half:])


def _gzip_members(data: bytes) -> bytes:
    return gzip.compress(data[:100], mtime=0) + gzip.compress(data[100:], mtime=0)


CODECS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": lambda data: gzip.compress(data, mtime=0),
    "gzip-members": _gzip_members,
    "deflate-zlib": zlib.compress,
    "deflate-raw": _raw_deflate,
    "br": brotli.compress,
    "zstd": zstandard.ZstdCompressor().compress,
    "zstd-frames": _zstd_frames,
}


def _codec(name: str) -> str:
    """The decode() codec name for a CODECS key."""
    return name.split("-")[0]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("  ", None),
        ("identity", None),
        ("UTF-8", None),
        ("utf-8", None),
        ("gzip", "gzip"),
        ("x-gzip", "gzip"),
        (" GZIP ", "gzip"),
        ("deflate", "deflate"),
        ("br", "br"),
        ("zstd", "zstd"),
    ],
)
def test_normalize_encoding(header: str | None, expected: str | None) -> None:
    """Accepted Content-Encoding values map to a codec; empty and UTF-8 mean none."""
    assert expected == encoding.normalize_encoding(header)


@pytest.mark.parametrize("header", ["lz4", "compress", "gzip, br", "br;q=1"])
def test_normalize_encoding_unsupported(header: str) -> None:
    """Any other Content-Encoding is UnsupportedEncoding (Relay's 415)."""
    with pytest.raises(UnsupportedEncoding) as info:
        encoding.normalize_encoding(header)

    assert f"unsupported Content-Encoding {header!r} (accepted: gzip, deflate, br, zstd)" == str(info.value)


@pytest.mark.parametrize("name", CODECS)
def test_round_trip(name: str) -> None:
    """Every codec decodes what its compressor wrote, byte-exact."""
    assert DATA == encoding.decode(_codec(name), CODECS[name](DATA))


@pytest.mark.parametrize("name", CODECS)
def test_empty_body_round_trip(name: str) -> None:
    """A compressed empty body decodes to no bytes."""
    assert b"" == encoding.decode(_codec(name), CODECS[name](b""))


def test_x_gzip_round_trip() -> None:
    """``x-gzip`` is gzip: the body decodes with the codec its name normalises to."""
    assert DATA == encoding.decode(encoding.normalize_encoding("x-gzip"), gzip.compress(DATA, mtime=0))


def test_many_gzip_members() -> None:
    """Thousands of gzip members one after another decode without exhausting the stack."""
    data = b"".join(gzip.compress(bytes([byte]), mtime=0) for byte in DATA[:200]) + gzip.compress(b"", mtime=0) * 3000

    assert DATA[:200] == encoding.decode("gzip", data)


def test_identity() -> None:
    """No encoding returns the body itself."""
    assert DATA == encoding.decode(None, DATA)


@pytest.mark.parametrize("name", CODECS)
@pytest.mark.parametrize("cut", [1, 5, 0.5])
def test_truncated(name: str, cut: float) -> None:
    """A compressed body cut short (by 1 or 5 bytes, or in half) is a DecodeError."""
    data = CODECS[name](DATA)
    end = int(len(data) * cut) if isinstance(cut, float) else len(data) - cut

    with pytest.raises(DecodeError):
        encoding.decode(_codec(name), data[:end])


@pytest.mark.parametrize("codec", ["gzip", "deflate", "br", "zstd"])
@pytest.mark.parametrize(
    "garbage",
    [b"", b"\x00", b"hello, world", make_envelope(), b"\x1f\x8b\x08\x00", b"\x28\xb5\x2f\xfd\x00", b"\xff" * 64],
    ids=["empty", "nul", "text", "envelope", "gzip-header-only", "zstd-header-only", "ff"],
)
def test_garbage(codec: str, garbage: bytes) -> None:
    """Bytes that are not the declared codec's are a DecodeError."""
    with pytest.raises(DecodeError):
        encoding.decode(codec, garbage)


@pytest.mark.parametrize("name", CODECS)
def test_cap_is_inclusive(name: str) -> None:
    """A body that decodes to exactly max_size passes; one byte less of cap is BodyTooLarge."""
    data = CODECS[name](DATA)

    assert DATA == encoding.decode(_codec(name), data, max_size=len(DATA))
    with pytest.raises(BodyTooLarge):
        encoding.decode(_codec(name), data, max_size=len(DATA) - 1)


def test_identity_over_cap() -> None:
    """An uncompressed body over max_size is BodyTooLarge too."""
    with pytest.raises(BodyTooLarge) as info:
        encoding.decode(None, b"x" * 11, max_size=10)

    assert "body of 11 bytes is over the 10-byte limit" == str(info.value)


def test_unknown_codec() -> None:
    """decode() refuses a codec name normalize_encoding would not give."""
    with pytest.raises(UnsupportedEncoding):
        encoding.decode("lz4", b"data")


# ---------------------------------------------------------------- decompression bombs

BOMB_SIZE = 300 * MIB
CAP = 200 * MIB
_ZERO_CHUNK = bytes(MIB)


@functools.cache
def _bomb(codec: str) -> bytes:
    """300 MiB of zeros, compressed (a few hundred KiB at most), built once per codec."""
    chunks = BOMB_SIZE // MIB
    if codec in ("gzip", "deflate-zlib", "deflate-raw"):
        raw = _raw_deflate_stream(chunks)
        if codec == "deflate-raw":
            return raw
        if codec == "deflate-zlib":
            adler = functools.reduce(lambda value, _: zlib.adler32(_ZERO_CHUNK, value), range(chunks), 1)
            return b"\x78\xda" + raw + struct.pack(">I", adler)
        crc = functools.reduce(lambda value, _: zlib.crc32(_ZERO_CHUNK, value), range(chunks), 0)
        return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + raw + struct.pack("<II", crc, BOMB_SIZE % 2**32)
    if codec == "br":
        compressor = brotli.Compressor(quality=1)
        return b"".join(compressor.process(_ZERO_CHUNK) for _ in range(chunks)) + compressor.finish()
    stream = zstandard.ZstdCompressor(level=3).compressobj()
    return b"".join(stream.compress(_ZERO_CHUNK) for _ in range(chunks)) + stream.flush()


@functools.cache
def _raw_deflate_stream(chunks: int) -> bytes:
    obj = zlib.compressobj(9, zlib.DEFLATED, -15)
    return b"".join(obj.compress(_ZERO_CHUNK) for _ in range(chunks)) + obj.flush()


def _inflated_size(data: bytes, wbits: int) -> int:
    """What zlib itself inflates ``data`` to, in bounded steps; -1 if the stream is incomplete."""
    obj, size, pending = zlib.decompressobj(wbits), 0, data
    while pending or not obj.eof:
        out = obj.decompress(pending, 16 * MIB)
        if not out and not obj.unconsumed_tail:
            break
        size, pending = size + len(out), obj.unconsumed_tail
    return size if obj.eof and not obj.unused_data else -1


def test_hand_built_bombs_are_valid() -> None:
    """The gzip and zlib bombs, framed by hand, are complete streams of 300 MiB (zlib checks the trailers)."""
    assert (BOMB_SIZE, BOMB_SIZE) == (_inflated_size(_bomb("gzip"), 31), _inflated_size(_bomb("deflate-zlib"), 15))


@pytest.mark.parametrize("name", ["gzip", "deflate-zlib", "deflate-raw", "br", "zstd"])
def test_bomb_stopped_at_cap(name: str) -> None:
    """A 300 MiB bomb is BodyTooLarge under a 200 MiB cap, and memory stays near the cap.

    Past 8 MiB (LEAN_ABOVE) decoding drops what it has and only counts, so it holds that
    much plus a chunk, not the cap (it held 200 MiB before); a decoder that inflated the
    whole bomb first would peak above 300 MiB.
    """
    bomb = _bomb(name)
    assert len(bomb) < MIB
    tracemalloc.start()
    try:
        with pytest.raises(BodyTooLarge) as info:
            encoding.decode(_codec(name), bomb, max_size=CAP)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert f"{_codec(name)} body decodes to more than the {CAP}-byte limit" == str(info.value)
    assert peak < encoding.LEAN_ABOVE + 4 * encoding.CHUNK + MIB, f"peak {peak / MIB:.1f} MiB"
    with pytest.raises(BodyTooLarge) as counted:
        encoding.decoded_size(_codec(name), bomb, max_size=CAP)
    assert str(info.value) == str(counted.value)


BIG = 40 * MIB


@functools.cache
def _big(name: str) -> bytes:
    """40 MiB of zeros, compressed (quickly, at the lowest levels)."""
    zeros = bytes(BIG)
    if name == "gzip":
        return gzip.compress(zeros, 1)
    if name == "deflate-zlib":
        return zlib.compress(zeros, 1)
    if name == "deflate-raw":
        return _raw_deflate(zeros)
    if name == "br":
        return brotli.compress(zeros, quality=1)
    return zstandard.ZstdCompressor(level=1).compress(zeros)


@pytest.mark.parametrize("name", ["gzip", "deflate-zlib", "deflate-raw", "br", "zstd"])
def test_a_big_body_under_the_cap_costs_its_size_once(name: str) -> None:
    """40 MiB: gzip and deflate decode into one buffer of the exact size (chunks and their
    join held it twice); the other codecs still join their chunks."""
    data = _big(name)
    assert BIG == encoding.decoded_size(_codec(name), data, max_size=CAP)
    tracemalloc.start()
    try:
        body = encoding.decode(_codec(name), data, max_size=CAP)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert BIG == len(body) and not body.strip(b"\0")
    del body
    once = _codec(name) in ("gzip", "deflate")
    assert peak < (1 if once else 2) * BIG + encoding.LEAN_ABOVE + 4 * encoding.CHUNK, f"peak {peak / MIB:.1f} MiB"


def test_big_gzip_members_are_decoded_whole() -> None:
    """Several members over LEAN_ABOVE: the one-buffer path decodes only the first member,
    so they are joined instead."""
    first, second = bytes(9 * MIB), b"second member" * 1000
    data = gzip.compress(first, 1) + gzip.compress(second, 1)
    assert first + second == encoding.decode("gzip", data)
    assert len(first + second) == encoding.decoded_size("gzip", data)


# ---------------------------------------------------------------- fuzzing


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["gzip", "deflate", "br", "zstd"]), st.binary(max_size=256))
@example("gzip", gzip.compress(b"x", mtime=0) + b"\x00")
@example("gzip", gzip.compress(b"x", mtime=0)[:-4])
@example("deflate", b"\x78")
@example("zstd", b"\x28\xb5\x2f")
@example("zstd", b"\x50\x2a\x4d\x18\xff\xff\xff\xff")
@example("zstd", b"\x50\x2a\x4d\x18\x00\x00\x00\x00")
@example("zstd", zstandard.ZstdCompressor().compress(b"hello") + b"\x28\xb5")
@example("br", b"")
@example("br", brotli.compress(b"hello") + b"junk")
def test_decode_raises_only_mirror_errors(codec: str, data: bytes) -> None:
    """decode() on any bytes returns bytes or raises a MirrorError subclass, nothing else."""
    try:
        result = encoding.decode(codec, data, max_size=MIB)
    except MirrorError as exc:
        assert isinstance(exc, DecodeError)
    else:
        assert isinstance(result, bytes) and len(result) <= MIB


def test_the_frame_walk_knows_reserved_bits_and_block_types_and_cut_skippable_frames() -> None:
    frame = zstandard.ZstdCompressor(write_checksum=True).compress(b"x" * 1000)
    skippable = (0x184D2A5E).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"abc"
    assert (len(frame), len(skippable)) == (encoding.zstd_frame_end(frame), encoding.zstd_frame_end(skippable))
    assert encoding.zstd_frame_end(skippable + frame, len(skippable)) == len(skippable) + len(frame)
    assert encoding.zstd_frame_end(skippable[:6]) is None  # cut short, not foreign
    reserved = bytearray(frame)
    reserved[4] |= 0x08  # the frame header's reserved bit
    with pytest.raises(DecodeError):
        encoding.zstd_frame_end(bytes(reserved))
    header = 6 if not frame[4] & 0x20 else 5
    header += (0, 2, 4, 8)[frame[4] >> 6] or frame[4] >> 5 & 1
    damaged = bytearray(frame)
    damaged[header] |= 0x06  # the first block's type: 3, reserved
    assert encoding.zstd_frame_end(bytes(damaged)) is None
    assert header == encoding.zstd_complete_prefix(bytes(damaged))  # no block is whole
