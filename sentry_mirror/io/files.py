"""Files and directories that hold captured data: owner-only from the moment they exist.

Captured requests carry whatever personal data an app sends, and so does everything made
from them (reports, diffs, exports, replay results). Files are created 0600 and
directories 0700 by the call that creates them (``os.open``/``mkdir`` with that mode, never
a ``chmod`` afterwards), so there is no moment when someone else could open them.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sentry_mirror.errors import MirrorError

FILE_MODE = 0o600
DIR_MODE = 0o700
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)


def create_private(path: Path, *, what: str = "") -> int:
    """A new file at ``path``, readable by its owner only: its descriptor. An existing file
    (or a symlink, dangling or not) is never opened: that is an error saying so."""
    try:
        return os.open(path, _CREATE, FILE_MODE)
    except FileExistsError:
        raise MirrorError(f"{what}{path} already exists: choose another name or remove it") from None
    except OSError as exc:
        raise MirrorError(f"cannot create {what}{path}: {exc.strerror}") from None


def write_new(path: Path, data: bytes) -> None:
    """Write ``data`` into a new owner-only file at ``path`` (:func:`create_private`: an
    existing file is an error, never overwritten); a failed write leaves no file."""
    fd = create_private(path)
    try:
        with os.fdopen(fd, "wb") as fo:
            fo.write(data)
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise MirrorError(f"cannot write {path}: {exc.strerror}") from None


def _make_directories(path: Path) -> None:
    """``mkdir -p`` where every directory made is 0700 (``Path.mkdir(parents=True)`` makes
    the parents with the umask's mode: 0777 under umask 0, so anyone could swap the rest)."""
    try:
        path.mkdir(mode=DIR_MODE)
    except FileNotFoundError:
        if path.parent == path:
            raise
        try:
            _make_directories(path.parent)
        except FileExistsError:
            pass  # made meanwhile by someone else
        path.mkdir(mode=DIR_MODE)


def private_directory(path: Path, *, warn: Callable[[str], None]) -> None:
    """Make sure ``path`` is a directory that others cannot write to: created 0700, or, if it
    exists and is group- or world-writable, tightened to 0700 when it is ours (``warn``
    says so), or left with a warning when it belongs to someone else or is sticky (a
    directory shared on purpose, such as /tmp, which root owns)."""
    try:
        _make_directories(path)
        return
    except FileExistsError:
        pass
    except OSError as exc:
        raise MirrorError(f"cannot create directory {path}: {exc.strerror}") from None
    try:
        info = path.stat()
    except OSError as exc:
        raise MirrorError(f"cannot use directory {path}: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise MirrorError(f"{path} is not a directory")
    if not info.st_mode & 0o022:
        return
    mode = stat.S_IMODE(info.st_mode)
    if info.st_mode & stat.S_ISVTX:  # shared on purpose (/tmp): others cannot remove or rename our files there
        warn(
            f"{path} can be written by other users (mode {mode:o}, sticky: a shared directory such as /tmp): left as it is"
        )
        return
    if info.st_uid != os.getuid():
        warn(
            f"{path} can be written by other users (mode {mode:o}) and is not yours: captured data there may be replaced or removed by them"
        )
        return
    try:
        path.chmod(DIR_MODE)
    except OSError as exc:
        warn(f"{path} can be written by other users (mode {mode:o}) and could not be tightened: {exc.strerror}")
        return
    warn(f"{path} could be written by other users (mode {mode:o}): tightened to 700")


@contextmanager
def temp_directory(prefix: str) -> Iterator[Path]:
    """A new private temporary directory (0700), removed with everything in it on the way
    out, errors included."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)
