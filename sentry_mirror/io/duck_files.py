"""Snapshot files as DuckDB reads them: which ones it reads as they are, and clean copies of
the others.

DuckDB's zstd reader takes a finished snapshot file as it is (the skippable header frame
and the group marks are fine), and fails on a damaged frame (zstd's checksum); but a file
cut short (a listener killed, or still writing) silently ends at its last finished frame,
and a damaged one fails the whole query. Such a file is read by our own tolerant reader
(:func:`~sentry_mirror.io.decoder.read_records`: every record that passes the file's
checks, warnings naming the bytes skipped) into a clean copy in a private temporary
directory (0700, files 0600), removed when the session ends, errors included.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from sentry_mirror.errors import SnapshotError
from sentry_mirror.io.decoder import Warn
from sentry_mirror.io.export import export_snapshot
from sentry_mirror.io.files import temp_directory
from sentry_mirror.io.frames import frame_index
from sentry_mirror.io.snapshot import ExpandedPaths, iter_records, reading


def whole_frames(path: Path) -> bool:
    """Whether ``path`` is zstd frames end to end, the last one finished: its frame index
    (:func:`~sentry_mirror.io.frames.frame_index`: headers only, nothing is decompressed)
    has no tail. An empty file is not."""
    with reading(path):
        index = frame_index(path)
    return index.bounds[-1] > 0 and not index.tail


class CleanCopies:
    """Clean copies of damaged files (and DuckDB's spill files) in one private temporary
    directory; :meth:`close` removes it all."""

    def __init__(self) -> None:
        self._dir: Path | None = None
        self._made = ExitStack()
        self._count = 0

    def directory(self) -> Path:
        """The private directory (0700), made on first use."""
        if self._dir is None:
            self._dir = self._made.enter_context(temp_directory("sentry-mirror-sql-"))
        return self._dir

    def copy(self, path: Path, on_warning: Warn) -> Path | None:
        """A clean copy of ``path`` (every record our reader gives, answers too), or None
        when it holds no record."""
        self._count += 1
        target = self.directory() / f"{self._count}.jsonl.zst"
        records = iter_records(ExpandedPaths([path]), on_warning=on_warning, answers=True)
        try:
            done = export_snapshot((record.data for record in records), target)
        except OSError as exc:  # the copy's own disk (reading the source is SnapshotError)
            raise SnapshotError(f"cannot write a clean copy of {path} in {target.parent}: {exc.strerror}") from None
        return target if done.written + done.answers else None

    def close(self) -> None:
        self._made.close()
        self._dir = None
