"""Files and directories that hold captured data: owner-only from the moment they exist."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sentry_mirror.errors import MirrorError
from sentry_mirror.io.files import create_private, private_directory, write_new
from tests.helpers import mode, umask


def test_a_created_file_is_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "new"
    with umask(0):
        fd = create_private(path)
    os.close(fd)
    assert 0o600 == mode(path)


def test_an_existing_file_is_never_opened(tmp_path: Path) -> None:
    path = tmp_path / "there"
    path.write_text("keep")
    with pytest.raises(MirrorError, match=f"results file {path} already exists: choose another name or remove it"):
        create_private(path, what="results file ")
    assert "keep" == path.read_text()


def test_a_dangling_symlink_is_never_followed(tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "target")
    with pytest.raises(MirrorError, match="already exists"):
        create_private(link)
    assert not (tmp_path / "target").exists()


def test_a_file_in_a_missing_directory_names_the_reason(tmp_path: Path) -> None:
    with pytest.raises(MirrorError, match=f"cannot create {tmp_path}/missing/x: No such file or directory"):
        create_private(tmp_path / "missing" / "x")


def test_missing_parents_are_made_owner_only_too(tmp_path: Path) -> None:
    with umask(0):
        private_directory(tmp_path / "a" / "b" / "c", warn=pytest.fail)
    assert [0o700] * 3 == [mode(tmp_path / "a"), mode(tmp_path / "a" / "b"), mode(tmp_path / "a" / "b" / "c")]


def test_a_sticky_shared_directory_is_left_with_a_warning(tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    directory.mkdir()
    directory.chmod(0o1777)
    notices: list[str] = []
    private_directory(directory, warn=notices.append)
    assert 0o1777 == mode(directory)
    assert 1 == len(notices) and "sticky" in notices[0] and "left as it is" in notices[0]


def test_a_file_where_a_directory_is_wanted_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("")
    with pytest.raises(MirrorError, match=f"{path} is not a directory"):
        private_directory(path, warn=pytest.fail)


def test_a_directory_of_ours_that_others_may_only_read_is_left_alone(tmp_path: Path) -> None:
    directory = tmp_path / "plain"
    directory.mkdir()
    directory.chmod(0o755)
    notices: list[str] = []
    private_directory(directory, warn=notices.append)
    assert (0o755, []) == (mode(directory), notices)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a directory to another user")
def test_an_open_directory_of_someone_else_is_warned_about(tmp_path: Path) -> None:
    directory = tmp_path / "theirs"
    directory.mkdir()
    directory.chmod(0o777)
    os.chown(directory, 65534, 65534)
    notices: list[str] = []
    private_directory(directory, warn=notices.append)
    assert 0o777 == mode(directory)
    assert 1 == len(notices) and "is not yours" in notices[0]


def test_write_new_writes_an_owner_only_file_and_never_over_an_existing_one(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    with umask(0):
        write_new(path, b"new")
    assert ("new", 0o600) == (path.read_text(), mode(path))
    with pytest.raises(MirrorError, match="already exists"):
        write_new(path, b"newer")
    assert "new" == path.read_text()


def test_write_new_into_a_missing_directory_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(MirrorError, match=f"cannot create {tmp_path}/missing/report.html: No such file or directory"):
        write_new(tmp_path / "missing" / "report.html", b"x")
