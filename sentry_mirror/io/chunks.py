"""The chunk store: the chunks sentry-cli uploads, content-addressed beside the snapshot.

``<listen directory>/chunks/<first two hex>/<sha1 hex>``: directories 0700, files 0600,
each written to a temporary name, fsynced and renamed, so a chunk is whole on disk before
the upload is acknowledged. Only validated lower-case 40-hex SHA-1 names are taken, so no
name can leave the directory. Readers find the store as ``<snapshot's directory>/chunks``."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from sentry_mirror.core.webapi.chunks import is_checksum
from sentry_mirror.io import files

log = logging.getLogger(__name__)

#: The store's directory name, beside the snapshot files.
DIRECTORY = "chunks"
#: Bytes read at a time when a file is hashed from its chunks.
READ_SIZE = 1 << 20


class ChunkStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._root_checked = False  # the store's own directory: made or checked once a run

    def path(self, checksum: str) -> Path:
        if not is_checksum(checksum):
            raise ValueError(f"not a SHA-1 chunk name: {checksum[:64]!r}")
        return self.root / checksum[:2] / checksum

    def has(self, checksum: str) -> bool:
        return is_checksum(checksum) and self.path(checksum).is_file()

    def sizes(self, checksums: Iterable[str]) -> dict[str, int | None]:
        """Each chunk's size once (a name repeated is looked at once), None when it is not here."""
        found: dict[str, int | None] = {}
        for checksum in checksums:
            if checksum not in found:
                try:
                    found[checksum] = os.stat(self.path(checksum)).st_size
                except FileNotFoundError:
                    found[checksum] = None
        return found

    def put(self, checksum: str, data: bytes) -> bool:
        """Store ``data`` (already verified to hash to ``checksum``); True when it was not there yet."""
        target = self.path(checksum)
        if target.is_file():
            return False
        self._directories(target.parent)
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

    def _directories(self, leaf: Path) -> None:
        """Make the store and ``leaf`` (owner-only, a warning in the log when others can write
        there), each new one's entry synced in its parent so a crash cannot lose it."""
        for directory in (self.root, leaf):
            existed = directory.is_dir()
            if existed and (directory != self.root or self._root_checked):
                continue
            files.private_directory(directory, warn=log.warning)
            self._root_checked = True
            if not existed:
                _sync_directory(directory.parent)

    def read(self, checksum: str) -> bytes:
        return self.path(checksum).read_bytes()

    def sha1(self, chunks: Iterable[str]) -> str:
        """The SHA-1 hex of the file made of ``chunks``, read a piece at a time (nothing held)."""
        digest = hashlib.sha1()
        for checksum in chunks:
            with open(self.path(checksum), "rb") as fo:
                while piece := fo.read(READ_SIZE):
                    digest.update(piece)
        return digest.hexdigest()

    def assemble(self, chunks: tuple[str, ...]) -> bytes:
        """The file made of ``chunks`` in order."""
        return b"".join(self.read(c) for c in chunks)

    def drop_bad(self, chunks: Iterable[str]) -> list[str]:
        """Remove the chunks whose bytes no longer hash to their name (so they can be sent
        again); the names removed, each once."""
        bad = [c for c in dict.fromkeys(chunks) if self.sha1((c,)) != c]
        for checksum in bad:
            log.warning("chunk %s in %s does not hash to its name: removed, to be sent again", checksum, self.root)
            self.path(checksum).unlink(missing_ok=True)
        return bad


def _sync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
