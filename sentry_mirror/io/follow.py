"""Following snapshots as listeners write them, like ``tail -f``, across rotation."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sentry_mirror.core.record import Record
from sentry_mirror.errors import SnapshotError
from sentry_mirror.io.decoder import READ_SIZE, RecordDecoder, Warn
from sentry_mirror.io.snapshot import SUFFIX, writer_of


@dataclass
class _Tail:
    fo: BinaryIO
    decoder: RecordDecoder


class _Watch:
    """The snapshot files under the followed paths: those open (``tails``), and those
    rotated away from and read whole (``finished``: never read again)."""

    def __init__(self, paths: Iterable[str | os.PathLike[str]], on_warning: Warn) -> None:
        self.paths = list(paths)
        self.on_warning = on_warning
        self.directories: list[Path] = []
        self.tails: dict[Path, _Tail] = {}
        self.finished: set[Path] = set()
        for entry in self.paths:
            path = Path(entry)
            if path.is_dir():
                self.directories.append(path)
            elif not path.is_file():
                raise SnapshotError(f"no such snapshot file or directory: {entry}")

    def track(self, path: Path) -> _Tail:
        try:
            fo = path.open("rb")
        except OSError as exc:
            raise SnapshotError(f"cannot read snapshot {path}: {exc.strerror}") from None
        self.tails[path] = _Tail(fo, RecordDecoder(str(path), self.on_warning))
        return self.tails[path]

    def present(self) -> list[Path]:
        found = [Path(p) for p in self.paths if Path(p).is_file()]
        for directory in self.directories:
            found += directory.glob(f"*{SUFFIX}")
        return sorted(set(found), key=lambda p: p.name)

    def skip_existing(self) -> None:
        """Open the newest file of each writer and read past its content."""
        newest: dict[str, Path] = {}
        for path in self.present():  # name order: the last of each writer is its newest
            if writer_of(path) in newest:
                self.finished.add(newest[writer_of(path)])  # rotated away from already: never reopened
            newest[writer_of(path)] = path
        for path in newest.values():
            tail = self.track(path)
            while chunk := tail.fo.read(READ_SIZE):
                for _ in tail.decoder.feed(chunk):
                    pass

    def step(self) -> Generator[Record, None, bool]:
        """One look at every file: new ones opened, new records given out, rotated ones
        closed. Returns whether anything was read or opened."""
        progressed = False
        for path in self.present():
            if path not in self.tails and path not in self.finished:
                self.track(path)
                progressed = True
        for path, tail in list(self.tails.items()):
            while chunk := tail.fo.read(READ_SIZE):
                progressed = True
                yield from tail.decoder.feed(chunk)
            newer = any(writer_of(p) == writer_of(path) and p.name > path.name for p in self.tails)
            if newer:  # rotated away from: the listener closed it, and it has been read whole
                tail.decoder.end()
                tail.fo.close()
                del self.tails[path]
                self.finished.add(path)
        return progressed

    def close(self) -> None:
        for tail in self.tails.values():
            tail.fo.close()


def follow(
    paths: Iterable[str | os.PathLike[str]],
    *,
    on_warning: Warn,
    poll: float = 0.2,
    stopped: Callable[[], bool] = lambda: False,
    on_ready: Callable[[int], None] = lambda files: None,
) -> Iterator[Record]:
    """Records written to the snapshots under ``paths`` from now on, as they arrive.

    Existing content is skipped. New files in the given directories (a listener
    rotating, or a new listener) are picked up from their start; a rotated file is
    read to its end, then closed. ``on_ready(files)`` is called once the existing content
    is skipped. Runs until ``stopped()`` or the consumer stops.
    """
    watch = _Watch(paths, on_warning)
    try:
        watch.skip_existing()
        on_ready(len(watch.tails))
        while not stopped():
            if not (yield from watch.step()):
                time.sleep(poll)
    finally:
        watch.close()
