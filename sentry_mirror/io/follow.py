"""Following snapshots as listeners write them, like ``tail -f``, across rotation."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sentry_mirror.core.record import Record
from sentry_mirror.errors import SnapshotError
from sentry_mirror.io.snapshot import READ_SIZE, SUFFIX, RecordDecoder, Warn, _writer


@dataclass
class _Tail:
    fo: BinaryIO
    decoder: RecordDecoder


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
    directories: list[Path] = []
    tails: dict[Path, _Tail] = {}
    finished: set[Path] = set()  # rotated away from and read whole: never read again
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            directories.append(path)
        elif not path.is_file():
            raise SnapshotError(f"no such snapshot file or directory: {entry}")

    def track(path: Path) -> _Tail:
        try:
            fo = path.open("rb")
        except OSError as exc:
            raise SnapshotError(f"cannot read snapshot {path}: {exc.strerror}") from None
        tails[path] = _Tail(fo, RecordDecoder(str(path), on_warning))
        return tails[path]

    def present() -> list[Path]:
        found = [Path(p) for p in paths if Path(p).is_file()]
        for directory in directories:
            found += directory.glob(f"*{SUFFIX}")
        return sorted(set(found), key=lambda p: p.name)

    try:
        newest: dict[str, Path] = {}
        for path in present():  # name order: the last of each writer is its newest
            if _writer(path) in newest:
                finished.add(newest[_writer(path)])  # rotated away from already: never reopened
            newest[_writer(path)] = path
        for path in newest.values():  # skip what is already there
            tail = track(path)
            while chunk := tail.fo.read(READ_SIZE):
                for _ in tail.decoder.feed(chunk):
                    pass
        on_ready(len(tails))
        while not stopped():
            progressed = False
            for path in present():
                if path not in tails and path not in finished:
                    track(path)
                    progressed = True
            for path, tail in list(tails.items()):
                while chunk := tail.fo.read(READ_SIZE):
                    progressed = True
                    yield from tail.decoder.feed(chunk)
                newer = any(_writer(p) == _writer(path) and p.name > path.name for p in tails)
                if newer:  # rotated away from: the listener closed it, and it has been read whole
                    tail.decoder.end()
                    tail.fo.close()
                    del tails[path]
                    finished.add(path)
            if not progressed:
                time.sleep(poll)
    finally:
        for tail in tails.values():
            tail.fo.close()
