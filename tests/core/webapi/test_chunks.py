"""Chunk-upload parsing: parts named file / file_gzip, SHA-1 names verified, Sentry's refusals."""

from __future__ import annotations

import gzip
import hashlib

import pytest

from sentry_mirror.core.webapi import chunks

BOUNDARY = "b0undary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def body(*parts: tuple[str, str, bytes]) -> bytes:
    out = b""
    for name, filename, data in parts:
        out += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n\r\n'.encode()
        out += data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def test_plain_and_gzip_parts_are_verified_against_their_uncompressed_bytes() -> None:
    found = chunks.parse(
        CONTENT_TYPE, body(("file", sha1(b"a"), b"a"), ("file_gzip", sha1(b"b"), gzip.compress(b"b"))), 1 << 20
    )
    assert [(sha1(b"a"), b"a", False), (sha1(b"b"), b"b", True)] == [(c.checksum, c.data, c.compressed) for c in found]


def test_parts_with_other_names_are_ignored_and_an_empty_body_is_no_chunks() -> None:
    assert [] == chunks.parse(CONTENT_TYPE, body(("other", "x", b"x")), 1 << 20)
    assert [] == chunks.parse("", b"", 1 << 20)


@pytest.mark.parametrize(
    ("parts", "detail"),
    [
        ([("file", sha1(b"other"), b"a")], "Checksum mismatch"),
        ([("file", sha1(b"a").upper(), b"a")], "Checksum mismatch"),  # Sentry compares the hex as sent
        ([("file_gzip", sha1(b"a"), b"not gzip")], "not valid gzip"),
        ([("file", sha1(b"a"), b"a")] * 65, "Too many chunks"),
    ],
)
def test_refusals(parts: list[tuple[str, str, bytes]], detail: str) -> None:
    with pytest.raises(chunks.ChunkError) as refused:
        chunks.parse(CONTENT_TYPE, body(*parts), 1 << 20)
    assert 400 == refused.value.status and detail in refused.value.detail


def test_a_gzip_bomb_is_refused_at_the_cap() -> None:
    data = bytes(2 << 20)
    with pytest.raises(chunks.ChunkError, match="not valid gzip"):
        chunks.parse(CONTENT_TYPE, body(("file_gzip", sha1(data), gzip.compress(data))), 1 << 20)


def test_not_multipart_is_a_400() -> None:
    with pytest.raises(chunks.ChunkError):
        chunks.parse("application/json", b"{}", 1 << 20)


@pytest.mark.parametrize("max_body", [1 << 20, 5 << 20, 200 << 20, 100])
def test_options_fit_the_body_cap(max_body: int) -> None:
    options = chunks.options("acme", max_body)
    assert options["maxRequestSize"] <= max(max_body - chunks.FRAMING, 1024)
    assert options["chunkSize"] <= options["maxRequestSize"]
    assert options["chunkSize"] <= chunks.CHUNK_SIZE and options["chunkSize"] & (options["chunkSize"] - 1) == 0
    assert "organizations/acme/chunk-upload/" == options["url"]


def test_names_the_store_takes() -> None:
    assert chunks.is_checksum(sha1(b"x"))
    assert not chunks.is_checksum("../" + sha1(b"x")[3:])
    assert not chunks.is_checksum(sha1(b"x").upper())
