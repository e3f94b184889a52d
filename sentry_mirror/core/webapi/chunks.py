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
from urllib.parse import quote

from sentry_mirror.core import encoding, multipart
from sentry_mirror.errors import BodyTooLarge, DecodeError

#: Sentry's figures (``sentry/api/endpoints/chunk.py``): 8 MiB chunks, 64 a request, 32 MiB a request.
CHUNK_SIZE = 8 * 1024 * 1024
CHUNKS_PER_REQUEST = 64
MAX_REQUEST_SIZE = 32 * 1024 * 1024
CONCURRENCY = 8
#: The largest file an assemble call puts together unless ``listen --max-upload`` says otherwise.
DEFAULT_MAX_UPLOAD = 256 * 1024 * 1024
#: Sentry's refusals of a chunk-upload POST (``sentry/api/endpoints/chunk.py``).
TOO_MANY = "Too many chunks"
CHUNK_TOO_LARGE = "Chunk size too large"
REQUEST_TOO_LARGE = "Request too large"
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


@dataclass(frozen=True, slots=True)
class Limits:
    """What the options answer promises and the POST and assemble calls hold sentry-cli to."""

    chunk_size: int
    request_size: int
    max_file_size: int

    @property
    def max_chunks(self) -> int:
        """The most chunks a file within ``max_file_size`` is cut into (its last one short)."""
        return self.max_file_size // self.chunk_size + 1


def limits(max_body: int, max_upload: int = DEFAULT_MAX_UPLOAD) -> Limits:
    """Sentry's figures, cut to what this listener accepts (``max_body``) so sentry-cli never
    sends a request the listener would refuse as too large; files up to ``max_upload``."""
    request_size = max(min(MAX_REQUEST_SIZE, max_body - FRAMING), 1024)
    return Limits(_power_of_two_at_most(min(CHUNK_SIZE, request_size)), request_size, max(max_upload, 1))


def options(org: str, bounds: Limits) -> dict[str, Any]:
    """The GET answer: Sentry's, with the sizes of ``bounds``."""
    return {
        # relative to /api/0/, as in sentry-cli's own tests; the org percent-encoded as sentry-cli does
        "url": f"organizations/{quote(org, safe='')}/chunk-upload/",
        "chunkSize": bounds.chunk_size,
        "chunksPerRequest": CHUNKS_PER_REQUEST,
        "maxFileSize": bounds.max_file_size,
        "maxRequestSize": bounds.request_size,
        "concurrency": CONCURRENCY,
        "hashAlgorithm": "sha1",
        "compression": ["gzip"],
        "accept": list(ACCEPT),
    }


def _chunk(part: multipart.Part, bounds: Limits) -> Chunk:
    name = part.filename or ""
    data = part.data
    compressed = part.name == "file_gzip"
    if compressed:
        try:  # unpacked no further than a chunk may be
            data = encoding.decode("gzip", data, max_size=bounds.chunk_size)
        except BodyTooLarge:
            raise ChunkError(400, CHUNK_TOO_LARGE) from None
        except DecodeError as exc:
            raise ChunkError(400, f"chunk {name[:64]!r} is not valid gzip: {exc}") from None
    if len(data) > bounds.chunk_size:
        raise ChunkError(400, CHUNK_TOO_LARGE)
    if hashlib.sha1(data).hexdigest() != name:
        raise ChunkError(400, "Checksum mismatch")
    return Chunk(name, data, compressed)


def parse(content_type: str, body: bytes, bounds: Limits) -> list[Chunk]:
    """The chunks of a POST, each verified; :class:`ChunkError` refuses the request as Sentry
    does: over :data:`CHUNKS_PER_REQUEST` parts, one chunk over ``chunk_size`` or all of them
    over ``request_size`` (unpacked: a gzip part is never unpacked past the chunk size).

    No multipart body at all is no chunks (Sentry answers 200 to an empty POST)."""
    if not body:
        return []
    try:
        parts = multipart.parse(body, content_type)
    except multipart.MultipartError as exc:
        raise ChunkError(400, str(exc)) from None
    files = [part for part in parts if part.name in ("file", "file_gzip")]
    if len(files) > CHUNKS_PER_REQUEST:
        raise ChunkError(400, TOO_MANY)
    if sum(len(part.data) for part in files) > bounds.request_size:
        raise ChunkError(400, REQUEST_TOO_LARGE)
    found, total = [], 0
    for part in files:
        found.append(_chunk(part, bounds))
        total += len(found[-1].data)
        if total > bounds.request_size:
            raise ChunkError(400, REQUEST_TOO_LARGE)
    return found


def item(chunk: Chunk, new: bool) -> dict[str, Any]:
    """The record's summary item for one stored chunk."""
    headers = {"type": "chunk", "checksum": chunk.checksum, "compressed": chunk.compressed, "new": new}
    return {"type": "chunk", "size": len(chunk.data), "headers": headers}
