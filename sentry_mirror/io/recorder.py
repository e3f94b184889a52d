"""The live snapshot: file naming, rotation, group commit, fsync, clean close.

``await recorder.write(record)`` returns only once the record is in the file (written
to the operating system, and fsync'ed with ``fsync=True``), so the server acknowledges
nothing that is not on disk. Records that arrive while a write is in progress wait
for the next one and are written together ("group commit"): one ``write()`` per group.
One zstd stream runs across the groups of a frame, flushed to a block boundary after
each group, so each record is compressed against the ones before it, and every
acknowledged record decodes even from a file cut right after it (kill -9).

When storage fails (a full disk, a quota, an I/O error, no descriptor left) the recorder
does not stop. The rule it keeps: **the status in a record on disk is the status its
client received.** A group whose write or fsync failed is answered 503, so its records,
which say 200, must not stay in the file:

1. The file is cut back (``ftruncate``) to the end of the last group that was acknowledged.
   A write that stopped half-way and a write whose fsync failed are both undone, and the
   file ends at a block boundary of an open zstd frame, which readers read whole without a
   warning (as after ``kill -9``). The zstd stream, which already took in the failed group,
   cannot go on, so the file is closed and left as it is.
2. Every waiting and later ``write`` raises :class:`StorageUnavailable` (the server answers
   503 with ``Retry-After``) until :data:`RETRY_INTERVAL` has passed; then the next group
   tries again, in a new file. The first group that is written ends the outage.
3. If the cut itself fails (the file may still hold records of the failed group), the first
   record written after the outage carries a note naming that file and the ids of the
   records in it that were answered 503, so a reader can tell.

A record that cannot be serialised (a bug: :func:`~sentry_mirror.core.record.dumps` never
fails) fails only its own ``write`` with :class:`RecordError`, never its group.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sentry_mirror.core.record import dumps
from sentry_mirror.errors import MirrorError, SnapshotError
from sentry_mirror.io.files import private_directory
from sentry_mirror.io.snapshot import LEVEL, SUFFIX, SnapshotWriter

log = logging.getLogger(__name__)

#: Groups bigger than this are compressed in a worker thread, off the event loop.
THREAD_THRESHOLD = 1 << 20
#: Seconds without a request after which the open zstd frame is finished, so a file at
#: rest is complete for any zstd reader (zstdcat, DuckDB) even while the listener runs.
FRAME_IDLE = 1.0
#: Seconds after a failed write during which writes are refused at once (503) before the
#: next group tries the disk again.
RETRY_INTERVAL = 1.0
#: While storage is unavailable, at most one log line per this many seconds.
LOG_INTERVAL = 5.0

Batch = list[tuple[dict[str, Any], "asyncio.Future[None]"]]


class StorageUnavailable(SnapshotError):
    """The snapshot cannot be written now (full disk, I/O error): answer 503, retry later."""


class RecordError(SnapshotError):
    """This one record could not be turned into a line (a bug); the others are unaffected."""


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _safe_host() -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname()) or "host"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{os.strerror(exc.errno)} ({errno.errorcode.get(exc.errno, exc.errno)})"
    return str(exc) or type(exc).__name__


class Recorder:
    """Owns the snapshot files of one listener process.

    File names are ``<UTC start>-<host>-<pid>.jsonl.zst`` (``_0001`` added on a clash), so
    they sort by time and several listeners can share one directory; ``kind`` goes before
    the host (``replay`` names the files of ``replay --undelivered``). Files are created
    owner-readable only (0600): snapshots hold personal data.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        rotate_size: int | None = None,
        rotate_every: float | None = None,
        fsync: bool = False,
        level: int = LEVEL,
        on_open: Callable[[Path], None] | None = None,
        kind: str | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.kind = kind
        self.on_open = on_open
        self.rotate_size = rotate_size
        self.rotate_every = rotate_every
        self.fsync = fsync
        self.level = level
        self.path: Path | None = None
        self.paths: list[Path] = []
        self.records = 0
        self.groups = 0  # group commits: one write(2) each
        self.bytes_written = 0
        self.refused = 0  # writes answered "unavailable" (the server's 503s)
        self.outages = 0
        #: why storage is unavailable now, or None
        self.unavailable: str | None = None
        self._retry_at = 0.0
        self._last_log = 0.0
        self._refused_since_log = 0
        self._suspect: str | None = None  # a note for the next record (see the module docstring)
        self._announce: Path | None = None  # a new file to tell on_open about
        self._fd: int | None = None
        self._writer: SnapshotWriter | None = None
        self._file_size = 0  # bytes acknowledged in the open file: the cut-back point
        self._opened_at = 0.0
        self._pending: Batch = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduled = False  # a commit of the pending records is due (see write)
        self._busy: asyncio.Task[None] | None = None  # a commit that waits on a thread (fsync, big group)
        self._idle_timer: asyncio.TimerHandle | None = None
        self._last_commit = 0.0
        self._closing = False

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Create the directory and the first file."""
        self._loop = asyncio.get_running_loop()
        try:
            private_directory(self.directory, warn=log.warning)  # 0700; tightened if others may write it
        except MirrorError as exc:
            raise SnapshotError(f"snapshot directory: {exc}") from None
        self._open()

    async def close(self) -> None:
        """Write what is pending, then close the file (fsync'ed with ``fsync=True``).

        A file that got no record is removed, so a listener that received nothing
        leaves nothing behind."""
        self._closing = True
        while self._busy is not None or self._pending:
            if self._busy is not None:
                await self._busy
            else:
                self._commit_pending()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        try:
            self._close_file()
        except OSError as exc:
            self._abandon_file(exc, [])

    async def __aenter__(self) -> Recorder:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ------------------------------------------------------------ writing

    async def write(self, record: dict[str, Any]) -> None:
        """Return once ``record`` is in the snapshot file.

        Raises :class:`StorageUnavailable` when it cannot be stored now (answer 503 and let
        the client retry), :class:`RecordError` when this record cannot be serialised."""
        await self.submit(record)

    def submit(self, record: dict[str, Any]) -> asyncio.Future[None]:
        """Queue ``record`` for the next group and return at once: the future is done once it
        is in the file, or fails as :meth:`write` would (which awaits it). Records submitted
        before :meth:`close` are written by it."""
        if self._loop is None or self._closing:
            raise StorageUnavailable("the recorder is closed")
        if self.unavailable is not None and self._loop.time() < self._retry_at:
            self._refuse(1)
            raise StorageUnavailable(self.unavailable)
        future = self._loop.create_future()
        self._pending.append((record, future))
        if not self._scheduled and self._busy is None:
            # Commit two loop turns from now: the requests read in this turn and the next
            # join the same group (one write, one compression flush). One turn made groups
            # of about 3 records under load, two about 5, and 8% less CPU per record.
            self._scheduled = True
            self._loop.call_soon(self._loop.call_soon, self._commit_pending)
        return future

    @staticmethod
    def _lines(batch: Batch) -> tuple[Batch, bytes, list[tuple[asyncio.Future[None], RecordError]]]:
        """The records of ``batch`` as JSON lines, and the records that failed (each alone).
        Runs in a worker thread for big groups: it only computes (futures are the loop's)."""
        kept: Batch = []
        lines: list[bytes] = []
        failed: list[tuple[asyncio.Future[None], RecordError]] = []
        for record, future in batch:
            try:
                lines.append(dumps(record))
            except Exception as exc:
                failed.append((future, RecordError(f"the record could not be serialised: {type(exc).__name__}: {exc}")))
            else:
                kept.append((record, future))
        return kept, b"".join(lines), failed

    @staticmethod
    def _fail_records(failed: list[tuple[asyncio.Future[None], RecordError]]) -> None:
        for future, error in failed:
            log.error("%s", error)
            if not future.done():
                future.set_exception(error)

    def _commit_pending(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        if not batch:
            return
        if self.unavailable is not None and self._loop is not None and self._loop.time() < self._retry_at:
            self._settle(batch, None, refused=True)  # queued before the failure: not retried at once
            return
        if self.fsync or sum(len(r.get("body") or "") for r, _ in batch) > THREAD_THRESHOLD:
            assert self._loop is not None
            self._busy = self._loop.create_task(self._commit_in_thread(batch))
            return
        self._mark_suspect(batch)
        batch, payload, failed = self._lines(batch)
        self._fail_records(failed)
        if not batch:
            return
        try:
            writer = self._writable()
            data = writer.encode_lines(payload)
            writer.write_bytes(data)
        except Exception as exc:
            self._settle(batch, exc)
        else:
            self._settle(batch, None, len(data))

    async def _commit_in_thread(self, batch: Batch) -> None:
        """A commit whose slow part (fsync, compressing a big group) runs off the event loop."""
        data = b""
        try:
            self._mark_suspect(batch)
            batch, payload, failed = await asyncio.to_thread(self._lines, batch)
            self._fail_records(failed)
            if batch:
                writer = self._writable()
                fd = self._fd
                data = await asyncio.to_thread(writer.encode_lines, payload)
                writer.write_bytes(data)
                if self.fsync:
                    await asyncio.to_thread(os.fsync, fd)  # type: ignore[arg-type]
        except Exception as exc:
            self._settle(batch, exc)
        else:
            if batch:
                self._settle(batch, None, len(data))
        finally:
            self._busy = None
            if self._pending and not self._scheduled and self._loop is not None:
                self._scheduled = True
                self._loop.call_soon(self._commit_pending)

    def _writable(self) -> SnapshotWriter:
        """The writer of the open file: rotated if due, a new file after an outage."""
        if self._fd is None:
            self._open()
        else:
            self._maybe_rotate()
        assert self._writer is not None
        return self._writer

    def _settle(self, batch: Batch, exc: BaseException | None, size: int = 0, *, refused: bool = False) -> None:
        if exc is not None or refused:
            if exc is not None:
                self._abandon_file(exc, batch)
            error = StorageUnavailable(self.unavailable or "the snapshot cannot be written")
            self._refuse(len(batch))
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        if self.unavailable is not None:
            log.warning("the snapshot is written again, into %s (%d record(s) were refused)", self.path, self.refused)
            self.unavailable = None
        self._suspect = None
        if self._announce is not None:
            self._announced()
        self.records += len(batch)
        self.groups += 1
        self.bytes_written += size
        self._file_size += size
        for _, future in batch:
            if not future.done():
                future.set_result(None)
        self._arm_idle()

    def _mark_suspect(self, batch: Batch) -> None:
        """Put the note about a file that could not be cut back on the first record of ``batch``."""
        if self._suspect is not None and batch:
            record = batch[0][0]
            record["notes"] = [*record.get("notes", ()), self._suspect]

    def _refuse(self, count: int) -> None:
        self.refused += count
        self._refused_since_log += count
        assert self._loop is not None
        now = self._loop.time()
        if now - self._last_log >= LOG_INTERVAL:
            log.warning(
                "the snapshot cannot be written (%s): %d record(s) refused in the last %.0f s (their requests "
                "answered 503, or sent on unrecorded in forward mode); retrying every %.0f s",
                self.unavailable,
                self._refused_since_log,
                LOG_INTERVAL,
                RETRY_INTERVAL,
            )
            self._last_log, self._refused_since_log = now, 0

    def _abandon_file(self, exc: BaseException, batch: Batch) -> None:
        """Storage failed: cut the file back to its last acknowledged group, close it, and
        refuse writes for :data:`RETRY_INTERVAL` (see the module docstring)."""
        assert self._loop is not None
        if self.unavailable is None:
            self.outages += 1
            self._last_log = 0.0  # say it at once
        self.unavailable = _reason(exc)
        self._retry_at = self._loop.time() + RETRY_INTERVAL
        fd, path, self._fd, self._writer = self._fd, self.path, None, None
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if fd is None:
            return
        try:
            os.ftruncate(fd, self._file_size)
            if self.fsync:
                os.fsync(fd)
        except OSError as cut:
            ids = [str(record.get("id")) for record, _ in batch]
            self._suspect = (
                f"the snapshot {path.name if path else '?'} could not be cut back after a failed write ({_reason(cut)}): "
                f"it may end with records answered 503, not as they say: {', '.join(ids) or 'none'}"
            )
            log.error("%s", self._suspect)
        finally:
            os.close(fd)
        if self._file_size == 0 and path is not None:  # nothing acknowledged in it: remove it
            try:
                path.unlink(missing_ok=True)
            except OSError:
                return
            self._suspect = None  # whatever the cut left in it is gone with it
            if path in self.paths:
                self.paths.remove(path)

    def _arm_idle(self) -> None:
        """Finish the open frame once FRAME_IDLE passes without a commit."""
        assert self._loop is not None
        self._last_commit = self._loop.time()
        if self._idle_timer is None:
            self._idle_timer = self._loop.call_later(FRAME_IDLE, self._on_idle)

    def _on_idle(self) -> None:
        assert self._loop is not None
        self._idle_timer = None
        if self._writer is None or not self._writer.frame_open:
            return
        remaining = self._last_commit + FRAME_IDLE - self._loop.time()
        if remaining > 0 or self._busy is not None:
            self._idle_timer = self._loop.call_later(max(remaining, 0.05), self._on_idle)
        else:
            try:
                self._finish_frame()  # quiet for a while: leave a complete file behind
            except OSError as exc:
                self._abandon_file(exc, [])

    def _finish_frame(self) -> None:
        if self._writer is not None:
            self._file_size += self._writer.finish_frame()

    # ------------------------------------------------------------ files

    def _maybe_rotate(self) -> None:
        if self._file_size == 0:
            return
        too_big = self.rotate_size is not None and self._file_size >= self.rotate_size
        too_old = self.rotate_every is not None and time.monotonic() - self._opened_at >= self.rotate_every
        if too_big or too_old:
            self._close_file()
            self._open()

    def _open(self) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
        base = f"{stamp}-{self.kind + '-' if self.kind else ''}{_safe_host()}-{os.getpid()}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        for attempt in range(1000):
            # "_0001" sorts after "." so the names of one process stay in time order
            path = self.directory / (f"{base}{SUFFIX}" if attempt == 0 else f"{base}_{attempt:04d}{SUFFIX}")
            try:
                fd = os.open(path, flags, 0o600)
            except FileExistsError:
                continue
            except OSError as exc:
                raise StorageUnavailable(f"cannot create snapshot {path}: {_reason(exc)}") from None
            break
        else:
            raise SnapshotError(f"cannot find a free snapshot file name like {base}{SUFFIX}")
        self._fd = fd
        self._writer = SnapshotWriter(_FdFile(fd), level=self.level)
        self._file_size = 0
        self._opened_at = time.monotonic()
        self.path = path
        self.paths.append(path)
        if self.fsync:
            _fsync_directory(self.directory)  # the new file's name survives a power loss too
        # announced once a record is in it: a file opened in an outage may be removed again
        self._announce = path if len(self.paths) > 1 else None

    def _announced(self) -> None:
        path, self._announce = self._announce, None
        if self.on_open is not None and path is not None:
            try:
                self.on_open(path)
            except Exception:
                self.on_open = None
                log.exception("could not announce the new snapshot file")

    def _close_file(self) -> None:
        """Finish the frame and close the file; a file that got no record is removed."""
        if self._fd is None:
            return
        self._finish_frame()
        fd, self._fd, self._writer = self._fd, None, None
        try:
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        if self._file_size == 0 and self.path is not None:
            self.path.unlink(missing_ok=True)
            self.paths.remove(self.path)


class _FdFile:
    """The smallest binary file object over a raw descriptor: one ``write(2)`` per call."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def write(self, data: bytes | memoryview) -> int:
        return os.write(self._fd, data)
