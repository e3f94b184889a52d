"""The chunk store: the chunks sentry-cli uploads, content-addressed beside the snapshot.

``<listen directory>/chunks/<first two hex>/<sha1 hex>``: directories 0700, files 0600,
each written to a temporary name, fsynced and renamed, so a chunk is whole on disk before
the upload is acknowledged. Only validated lower-case 40-hex SHA-1 names are taken, so no
name can leave the directory. Readers find the store as ``<snapshot's directory>/chunks``."""

from __future__ import annotations

import os
from pathlib import Path

from sentry_mirror.core.webapi.chunks import is_checksum
from sentry_mirror.io import files

#: The store's directory name, beside the snapshot files.
DIRECTORY = "chunks"


class ChunkStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, checksum: str) -> Path:
        if not is_checksum(checksum):
            raise ValueError(f"not a SHA-1 chunk name: {checksum[:64]!r}")
        return self.root / checksum[:2] / checksum

    def has(self, checksum: str) -> bool:
        return is_checksum(checksum) and self.path(checksum).is_file()

    def put(self, checksum: str, data: bytes) -> bool:
        """Store ``data`` (already verified to hash to ``checksum``); True when it was not there yet."""
        target = self.path(checksum)
        if target.is_file():
            return False
        if not target.parent.is_dir():
            files.private_directory(target.parent, warn=lambda _: None)
        temporary = target.with_name(f".{checksum}.{os.getpid()}.{id(data):x}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, files.FILE_MODE)
        try:
            with os.fdopen(fd, "wb") as fo:
                fo.write(data)
                fo.flush()
                os.fsync(fo.fileno())
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        _sync_directory(target.parent)
        return True

    def read(self, checksum: str) -> bytes:
        return self.path(checksum).read_bytes()

    def assemble(self, chunks: tuple[str, ...]) -> bytes:
        """The file made of ``chunks`` in order."""
        return b"".join(self.read(c) for c in chunks)


def _sync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
