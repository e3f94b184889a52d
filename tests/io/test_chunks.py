"""The chunk store on a real file system: content-addressed, owner-only, whole files only."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from sentry_mirror.io.chunks import ChunkStore


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def test_chunks_are_stored_by_their_hash_once(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "chunks")
    assert not store.has(sha1(b"a"))
    assert store.put(sha1(b"a"), b"a") and not store.put(sha1(b"a"), b"a")
    store.put(sha1(b"b"), b"b")
    assert store.has(sha1(b"a")) and b"ab" == store.assemble((sha1(b"a"), sha1(b"b")))
    assert (tmp_path / "chunks" / sha1(b"a")[:2] / sha1(b"a")).is_file()
    assert [] == list((tmp_path / "chunks").rglob(".*"))  # no temporary file left


def test_files_are_0600_and_directories_0700(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "chunks")
    store.put(sha1(b"a"), b"a")
    for path in [tmp_path / "chunks", *(tmp_path / "chunks").rglob("*")]:
        assert (0o700 if path.is_dir() else 0o600) == stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("name", ["../../etc/passwd", sha1(b"a").upper(), "", sha1(b"a") + "/x"])
def test_only_sha1_names_are_taken(tmp_path: Path, name: str) -> None:
    store = ChunkStore(tmp_path / "chunks")
    assert not store.has(name)
    with pytest.raises(ValueError, match="not a SHA-1"):
        store.put(name, b"a")


def test_a_store_that_cannot_be_made_raises(tmp_path: Path) -> None:
    (tmp_path / "chunks").write_bytes(b"a file in the way")
    with pytest.raises(Exception, match="chunks"):
        ChunkStore(tmp_path / "chunks").put(sha1(b"a"), b"a")
