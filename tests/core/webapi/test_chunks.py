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
        CONTENT_TYPE,
        body(("file", sha1(b"a"), b"a"), ("file_gzip", sha1(b"b"), gzip.compress(b"b"))),
        chunks.limits(1 << 20),
    )
    assert [(sha1(b"a"), b"a", False), (sha1(b"b"), b"b", True)] == [(c.checksum, c.data, c.compressed) for c in found]


def test_parts_with_other_names_are_ignored_and_an_empty_body_is_no_chunks() -> None:
    assert [] == chunks.parse(CONTENT_TYPE, body(("other", "x", b"x")), chunks.limits(1 << 20))
    assert [] == chunks.parse("", b"", chunks.limits(1 << 20))


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
        chunks.parse(CONTENT_TYPE, body(*parts), chunks.limits(1 << 20))
    assert 400 == refused.value.status and detail in refused.value.detail


def test_a_gzip_bomb_is_refused_at_the_cap() -> None:
    data = bytes(2 << 20)
    with pytest.raises(chunks.ChunkError, match=chunks.CHUNK_TOO_LARGE):
        chunks.parse(CONTENT_TYPE, body(("file_gzip", sha1(data), gzip.compress(data))), chunks.limits(1 << 20))


def test_a_chunk_over_the_chunk_size_is_refused_as_sentry_does_packed_or_not() -> None:
    bounds = chunks.Limits(chunk_size=1024, request_size=4096, max_file_size=1 << 20)
    big = bytes(1025)
    for part in [("file", sha1(big), big), ("file_gzip", sha1(big), gzip.compress(big))]:
        with pytest.raises(chunks.ChunkError) as refused:
            chunks.parse(CONTENT_TYPE, body(part), bounds)
        assert (400, "Chunk size too large") == (refused.value.status, refused.value.detail)


def test_chunks_whose_sum_passes_the_request_size_are_refused() -> None:
    bounds = chunks.Limits(chunk_size=1024, request_size=2048, max_file_size=1 << 20)
    parts = [("file_gzip", sha1(data), gzip.compress(data)) for data in (bytes(1024), b"1" * 1024, b"2" * 1024)]
    with pytest.raises(chunks.ChunkError) as refused:
        chunks.parse(CONTENT_TYPE, body(*parts), bounds)
    assert (400, "Request too large") == (refused.value.status, refused.value.detail)


def test_options_promise_the_upload_limit_and_encode_the_org() -> None:
    options = chunks.options("my org/x", chunks.limits(200 << 20, 300 << 20))
    assert (300 << 20, "organizations/my%20org%2Fx/chunk-upload/") == (options["maxFileSize"], options["url"])
    assert 300 // 8 + 1 == chunks.limits(200 << 20, 300 << 20).max_chunks


def test_not_multipart_is_a_400() -> None:
    with pytest.raises(chunks.ChunkError):
        chunks.parse("application/json", b"{}", chunks.limits(1 << 20))


@pytest.mark.parametrize("max_body", [1 << 20, 5 << 20, 200 << 20, 100])
def test_options_fit_the_body_cap(max_body: int) -> None:
    options = chunks.options("acme", chunks.limits(max_body))
    assert options["maxRequestSize"] <= max(max_body - chunks.FRAMING, 1024)
    assert options["chunkSize"] <= options["maxRequestSize"]
    assert options["chunkSize"] <= chunks.CHUNK_SIZE and options["chunkSize"] & (options["chunkSize"] - 1) == 0
    assert "organizations/acme/chunk-upload/" == options["url"]


def test_names_the_store_takes() -> None:
    assert chunks.is_checksum(sha1(b"x"))
    assert not chunks.is_checksum("../" + sha1(b"x")[3:])
    assert not chunks.is_checksum(sha1(b"x").upper())
