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


def test_sizes_look_at_each_name_once_and_hashing_streams(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "chunks")
    store.put(sha1(b"abc"), b"abc")
    assert {sha1(b"abc"): 3, sha1(b"x"): None} == store.sizes([sha1(b"abc"), sha1(b"x"), sha1(b"abc")])
    assert sha1(b"abcabc") == store.sha1([sha1(b"abc")] * 2)


def test_a_chunk_spoiled_on_disk_is_removed_to_be_sent_again(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "chunks")
    store.put(sha1(b"a"), b"a")
    store.put(sha1(b"b"), b"b")
    store.path(sha1(b"b")).write_bytes(b"spoiled")
    assert [sha1(b"b")] == store.drop_bad([sha1(b"a"), sha1(b"b"), sha1(b"b")])
    assert store.has(sha1(b"a")) and not store.has(sha1(b"b"))
    assert store.put(sha1(b"b"), b"b") and b"b" == store.read(sha1(b"b"))


def test_a_store_others_can_write_is_said_in_the_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "chunks"
    root.mkdir(mode=0o777)
    root.chmod(0o1777)  # shared on purpose (sticky): left as it is, with a warning
    ChunkStore(root).put(sha1(b"a"), b"a")
    assert "can be written by other users" in caplog.text
