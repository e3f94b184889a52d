"""The chunk-upload endpoint's two answers: the upload options (GET) and the verified
chunks of a multipart POST, as Sentry's ``ChunkUploadEndpoint`` handles them.

A POST holds parts named ``file`` (the chunk's bytes) or ``file_gzip`` (gzipped); each part's
filename is the SHA-1 hex of the chunk's uncompressed bytes. Parts with other names are
ignored, as Sentry ignores them. One chunk whose bytes do not hash to its name refuses the
whole request (400, ``{"error": ...}`` as Sentry's endpoint answers): nothing of it is kept."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from sentry_mirror.core import encoding, multipart
from sentry_mirror.errors import BodyTooLarge, DecodeError

#: Sentry's figures (``sentry/api/endpoints/chunk.py``): 8 MiB chunks, 64 a request, 32 MiB a request.
CHUNK_SIZE = 8 * 1024 * 1024
CHUNKS_PER_REQUEST = 64
MAX_REQUEST_SIZE = 32 * 1024 * 1024
CONCURRENCY = 8
#: Room left in a request for the multipart framing and gzip's few bytes of overhead per chunk.
FRAMING = 64 * 1024
#: The upload kinds Sentry's options list (sentry-cli picks the chunked protocol per kind).
ACCEPT = (
    "debug_files",
    "release_files",
    "pdbs",
    "sources",
    "bcsymbolmaps",
    "il2cpp",
    "portablepdbs",
    "artifact_bundles",
    "proguard",
)
_SHA1 = re.compile(r"[0-9a-f]{40}")


class ChunkError(Exception):
    """A chunk-upload request Sentry refuses: ``status`` and the ``error`` it answers."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


@dataclass(frozen=True, slots=True)
class Chunk:
    """A verified chunk: ``checksum`` (lower-case SHA-1 hex of ``data``), uncompressed ``data``."""

    checksum: str
    data: bytes
    compressed: bool


def is_checksum(text: str) -> bool:
    """True for a lower-case 40-hex SHA-1: the only names the chunk store takes."""
    return _SHA1.fullmatch(text) is not None


def _power_of_two_at_most(size: int) -> int:
    return 1 << max(size, 1).bit_length() - 1


def options(org: str, max_body: int) -> dict[str, Any]:
    """The GET answer: Sentry's, with sizes cut to what this listener accepts (``max_body``)
    so sentry-cli never sends a request the listener would refuse as too large."""
    request_size = max(min(MAX_REQUEST_SIZE, max_body - FRAMING), 1024)
    chunk_size = _power_of_two_at_most(min(CHUNK_SIZE, request_size))
    return {
        "url": f"organizations/{org}/chunk-upload/",  # relative to /api/0/, as in sentry-cli's own tests
        "chunkSize": chunk_size,
        "chunksPerRequest": CHUNKS_PER_REQUEST,
        "maxFileSize": 2 * 1024 * 1024 * 1024,
        "maxRequestSize": request_size,
        "concurrency": CONCURRENCY,
        "hashAlgorithm": "sha1",
        "compression": ["gzip"],
        "accept": list(ACCEPT),
    }


def _chunk(part: multipart.Part, max_size: int) -> Chunk:
    name = part.filename or ""
    data = part.data
    compressed = part.name == "file_gzip"
    if compressed:
        try:
            data = encoding.decode("gzip", data, max_size=max_size)
        except (DecodeError, BodyTooLarge) as exc:
            raise ChunkError(400, f"chunk {name[:64]!r} is not valid gzip: {exc}") from None
    if hashlib.sha1(data).hexdigest() != name:
        raise ChunkError(400, "Checksum mismatch")
    return Chunk(name, data, compressed)


def parse(content_type: str, body: bytes, max_size: int) -> list[Chunk]:
    """The chunks of a POST, each verified; :class:`ChunkError` refuses the request.

    No multipart body at all is no chunks (Sentry answers 200 to an empty POST)."""
    if not body:
        return []
    try:
        parts = multipart.parse(body, content_type)
    except multipart.MultipartError as exc:
        raise ChunkError(400, str(exc)) from None
    files = [part for part in parts if part.name in ("file", "file_gzip")]
    if len(files) > CHUNKS_PER_REQUEST:
        raise ChunkError(400, "Too many chunks")
    return [_chunk(part, max_size) for part in files]


def item(chunk: Chunk, new: bool) -> dict[str, Any]:
    """The record's summary item for one stored chunk."""
    headers = {"type": "chunk", "checksum": chunk.checksum, "compressed": chunk.compressed, "new": new}
    return {"type": "chunk", "size": len(chunk.data), "headers": headers}
