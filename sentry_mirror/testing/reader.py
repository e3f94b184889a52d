"""Reading a listener's snapshot files back as they grow, incrementally.

:class:`SnapshotReader` keeps, per file, how far it has read and a live
:class:`~sentry_mirror.io.decoder.RecordDecoder`; :meth:`SnapshotReader.read` feeds each
file's new bytes and gives out the records they complete (the recorder writes a group
mark with every batch, so a record is out as soon as its batch is on disk). Damage and
odd records are skipped with :func:`warnings.warn`, never raised."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

from sentry_mirror.core.record import Record
from sentry_mirror.errors import MirrorError
from sentry_mirror.io.decoder import READ_SIZE, RecordDecoder


def warn(message: str) -> None:
    """A reader's warning, for the test's output (pytest collects them)."""
    warnings.warn(message, stacklevel=3)


class _File:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.decoder = RecordDecoder(path.name, warn, live=True)
        self.broken = False  # the decoder raised (a newer format): read no more of it


class SnapshotReader:
    """The records added to ``paths()`` (the files, in writing order) since the last :meth:`read`.
    Not thread-safe: its caller holds a lock."""

    def __init__(self, paths: Callable[[], Iterable[Path]]) -> None:
        self.paths = paths
        self._files: dict[Path, _File] = {}

    def read(self) -> list[Record]:
        out: list[Record] = []
        for path in list(self.paths()):
            state = self._files.get(path)
            if state is None:
                state = self._files[path] = _File(path)
            if not state.broken:
                out.extend(self._read_file(state))
        return out

    @staticmethod
    def _read_file(state: _File) -> list[Record]:
        out: list[Record] = []
        try:
            with state.path.open("rb") as fo:
                fo.seek(state.offset)
                while chunk := fo.read(READ_SIZE):
                    state.offset += len(chunk)
                    out.extend(state.decoder.feed(chunk))
        except FileNotFoundError:  # an empty file the recorder removed
            pass
        except OSError as exc:
            warn(f"{state.path}: cannot be read: {exc.strerror}")
        except MirrorError as exc:
            state.broken = True
            warn(f"{state.path}: no more of it is read: {exc}")
        return out
