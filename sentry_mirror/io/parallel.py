"""Reading a capture with several processes: windows, a pool, partial results in order.

A capture (:class:`~sentry_mirror.io.snapshot.ExpandedPaths`) is split into *windows*
(:func:`plan`): picklable byte ranges of its files, aligned to zstd frames
(:mod:`sentry_mirror.io.frames`), so that reading the windows one after another
(:func:`read_window`) gives exactly the records of
:func:`~sentry_mirror.io.snapshot.iter_records`, in the same order, with the same warnings:

- one writer: each window is a run of whole frames, its files read one after another;
- several writers (merged by ``received_at``): a window is a time range ``[since, until)``
  and, per writer, the frames that may hold records in it (found by the receive time of each
  frame's first record); the frame holding a cut is decoded by both neighbours, each keeping
  its side of the cut, and its warnings go out with the first. This is exact only when each
  writer wrote its records in time order: the windows check it (and the parent checks their
  joins), and from the first window that finds otherwise (a clock step) the rest of the
  capture is read by one process, exactly as :func:`iter_records` would go on, with a note.

:func:`map_windows` runs a work function on each window in a process pool and yields its
results in window order, giving the warnings each window met to ``on_warning`` in order and
the bytes read to ``on_progress``. One job, or a capture smaller than :data:`MIN_WINDOW`,
is read in this process as one window (no pool). Workers ignore SIGINT: on Ctrl-C the
parent stops them and raises :class:`KeyboardInterrupt`; a worker that dies is a
:class:`~sentry_mirror.errors.MirrorError`, never a hang.

Start method: ``forkserver`` where the OS has it, else ``spawn``; never ``fork``: the parent
may have threads (Rich's progress bar refreshes from one), and a child forked while another
thread holds a lock (the console's, the allocator's) can deadlock. Work functions must be
top-level (picklable) functions; so are windows and results.
"""

from __future__ import annotations

import bisect
import multiprocessing
import signal
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sentry_mirror.core import answer
from sentry_mirror.core.record import Record
from sentry_mirror.errors import MirrorError
from sentry_mirror.io import snapshot
from sentry_mirror.io.decoder import READ_SIZE, Damage, Progress, RecordDecoder, Warn, ignore
from sentry_mirror.io.frames import frame_index, head_time
from sentry_mirror.io.snapshot import ExpandedPaths, merge_writers, reading

T = TypeVar("T")

#: Compressed bytes below which a capture is read in one process (a pool costs more), and
#: the least in a window (a second of work or so).
MIN_WINDOW = 2 << 20
#: The most compressed bytes in one window (a window's partial result is held whole).
MAX_WINDOW = 32 << 20
#: Windows per job, so that a slow window does not leave the other processes idle.
WINDOWS_PER_JOB = 4
NOTE_UNORDERED = "a writer's records are not in time order (a clock step?): the rest is read by one process"


@dataclass(frozen=True)
class Piece:
    """Bytes ``start`` to ``end`` of one file (``end`` None: to its end, as it is when read).
    ``checked``: the file starts with the checks header. ``quiet``: the piece is the frame a
    cut falls in, read by the previous window too (its warnings and bytes go out there)."""

    path: str
    start: int
    end: int | None
    checked: bool = False
    quiet: bool = False


@dataclass(frozen=True)
class Window:
    """One unit of work: per writer, the pieces to read (in writer order, as
    :func:`iter_records` merges them), and with several writers the receive-time range kept
    (``resume``: from each writer's first record at or after ``since``, then all)."""

    index: int
    parts: tuple[tuple[Piece, ...], ...]
    since: str | None = None
    until: str | None = None
    answers: bool = False
    resume: bool = False

    @property
    def timed(self) -> bool:
        return self.since is not None or self.until is not None


@dataclass
class Order:
    """What a window saw of one writer's receive times, for the parent's checks."""

    first: str | None = None
    last: str | None = None
    ordered: bool = True
    shared: int = 0  # records in the quiet piece (the frame shared with the previous window)


Said = str | tuple[str, Damage]  # a warning, or damage to a file (joined to damage right before it)


@dataclass
class Feedback:
    """Where a window's warnings and progress go: to the parent's callbacks (in-process), or
    collected to be sent with the result (in a worker). Damage goes as data (``on_damage``
    first, else collected; in-process it is said at once, or with ``join`` held until what
    follows shows whether the next window goes on with it, as one decoder would say it)."""

    on_warning: Warn | None = None
    on_progress: Progress | None = None
    warnings: list[Said] = field(default_factory=list)
    read: int = 0
    orders: list[Order] = field(default_factory=list)
    on_damage: Callable[[str, Damage], None] | None = None
    join: bool = False
    held: tuple[str, Damage] | None = None

    def warn(self, message: str) -> None:
        if self.on_warning is not None:
            self.flush()
            self.on_warning(message)
        else:
            self.warnings.append(str(message))  # as text (a Skipped is counted where it is met)

    def damaged(self, name: str, damage: Damage) -> None:
        if self.on_damage is not None:
            self.on_damage(name, damage)
        elif self.on_warning is None:
            self.warnings.append((name, damage))
        elif self.held is not None and self.held[0] == name and self.held[1].end == damage.start:
            self.held = (name, replace(self.held[1], end=damage.end))
        else:
            self.flush()
            self.held = (name, damage)
            if not self.join:
                self.flush()

    def said(self, message: Said) -> None:
        """A warning collected by a worker, said here."""
        if isinstance(message, tuple):
            self.damaged(*message)
        else:
            self.warn(message)

    def flush(self) -> None:
        """Say the damage held."""
        if self.held is not None and self.on_warning is not None:
            name, damage = self.held
            self.held = None
            self.on_warning(damage.warning(name))

    def progress(self, size: int) -> None:
        if self.on_progress is not None:
            self.on_progress(size)
        else:
            self.read += size


def _piece_records(piece: Piece, feedback: Feedback, answers: bool) -> Iterator[Record]:
    """The records of one piece, read as :func:`~sentry_mirror.io.decoder.read_records` reads a file."""
    warn = ignore if piece.quiet else feedback.warn
    decoder = RecordDecoder(piece.path, warn, live=False, answers=answers, offset=piece.start)
    decoder.stats.checked = piece.checked and piece.start > 0
    decoder.on_damage = ignore if piece.quiet else partial(feedback.damaged, piece.path)
    with reading(piece.path), Path(piece.path).open("rb") as fo:
        fo.seek(piece.start)
        left = None if piece.end is None else piece.end - piece.start
        while chunk := fo.read(READ_SIZE if left is None else min(READ_SIZE, left)):
            if left is not None:
                left -= len(chunk)
            if not piece.quiet:
                feedback.progress(len(chunk))
            yield from decoder.feed(chunk)
        yield from decoder.finish()


def _part(window: Window, pieces: tuple[Piece, ...], feedback: Feedback) -> Iterator[Record]:
    """One writer's records of ``window``, in file order (with several writers: those in
    its time range, while noting whether they come in time order)."""
    if not window.timed:
        for piece in pieces:
            yield from _piece_records(piece, feedback, window.answers)
        return
    order = Order()
    feedback.orders.append(order)
    since, until, started = window.since, window.until, not window.resume
    for piece in pieces:
        for record in _piece_records(piece, feedback, True):
            data = record.data
            received = data["received_at"]
            if order.last is not None and received < order.last:
                order.ordered = False
            order.first = order.first or received
            order.last = received
            order.shared += piece.quiet
            if not window.answers and answer.is_answer(data):
                continue
            if not started:
                started = since is None or received >= since
            if (
                started
                and (window.resume or since is None or received >= since)
                and (until is None or received < until)
            ):
                yield record


def read_window(window: Window, feedback: Feedback) -> Iterator[Record]:
    """The records of ``window``, as :func:`iter_records` gives them (see the module)."""
    yield from merge_writers([_part(window, pieces, feedback) for pieces in window.parts])


# --- planning ---------------------------------------------------------------------------


@dataclass
class _Unit:
    """Frames of one writer that go together: the pieces, their bytes, the first record's time."""

    head: str | None
    pieces: list[Piece]
    size: int


def _whole(writers: list[list[Path]], answers: bool) -> Window:
    parts = tuple(tuple(Piece(str(path), 0, None) for path in paths) for paths in writers)
    return Window(0, parts, answers=answers)


def _flat(paths: list[Path]) -> Iterator[tuple[Piece, int]]:
    """Every unit of a writer's files as a piece, with its size (the last of a file reads to its end)."""
    for path in paths:
        with reading(path):
            index = frame_index(path)
        spans = index.units
        for number, (start, end) in enumerate(spans):
            yield Piece(str(path), start, None if number == len(spans) - 1 else end, index.checked), end - start


def _units(paths: list[Path]) -> list[_Unit]:
    """A writer's frames as units with their first record's time (a unit whose time is
    unknown goes with the one before; the first unit counts as before any time)."""
    units: list[_Unit] = []
    for piece, size in _flat(paths):
        with reading(piece.path):
            head = head_time(Path(piece.path), piece.start, piece.start + size)
        if units and head is None:
            units[-1].pieces.append(piece)
            units[-1].size += size
        else:
            units.append(_Unit(head if units else "", [piece], size))
    return units


def _joined(pieces: list[Piece]) -> tuple[Piece, ...]:
    """Adjacent pieces of one file as one piece."""
    out: list[Piece] = []
    for piece in pieces:
        last = out[-1] if out else None
        if last is not None and last.path == piece.path and last.end == piece.start and last.quiet == piece.quiet:
            out[-1] = replace(last, end=piece.end)
        else:
            out.append(piece)
    return tuple(out)


def _plan_one(paths: list[Path], target: int, answers: bool) -> list[Window]:
    windows: list[Window] = []
    pieces: list[Piece] = []
    size = 0
    for piece, piece_size in _flat(paths):
        pieces.append(piece)
        size += piece_size
        if size >= target:
            windows.append(Window(len(windows), (_joined(pieces),), answers=answers))
            pieces, size = [], 0
    if pieces or not windows:
        windows.append(Window(len(windows), (_joined(pieces),), answers=answers))
    return windows


def _cuts(units: list[list[_Unit]], target: int) -> list[str]:
    """Receive times to cut at, about ``target`` bytes apart over all writers."""
    heads = sorted((unit.head, unit.size) for writer in units for unit in writer[1:] if unit.head)
    cuts: list[str] = []
    size = 0
    for head, unit_size in heads:
        if size >= target and (not cuts or head > cuts[-1]):
            cuts.append(head)
            size = 0
        size += unit_size
    return cuts


def _last_before(heads: list[str], moment: str | None) -> int:
    """The last unit whose first record is before ``moment`` (all: None; the first at least).
    ``heads``: the units' first times, in order (the first unit's is ``""``)."""
    if moment is None:
        return len(heads) - 1
    return max(0, bisect.bisect_left(heads, moment) - 1)


def _timed_window(index: int, units: list[list[_Unit]], since: str | None, until: str | None,
                  answers: bool) -> Window:  # fmt: skip
    parts = []
    for writer in units:
        heads = [unit.head or "" for unit in writer]
        first, last = _last_before(heads, since) if since is not None else 0, _last_before(heads, until)
        pieces = [replace(piece, quiet=index > 0 and n == first) for n in range(first, last + 1)
                  for piece in writer[n].pieces]  # fmt: skip
        parts.append(_joined(pieces))
    return Window(index, tuple(parts), since, until, answers)


def _plan_many(writers: list[list[Path]], target: int, answers: bool) -> list[Window]:
    """Windows by receive time (none when a writer's frames do not start in time order)."""
    units = [_units(paths) for paths in writers]
    for writer in units:
        heads = [unit.head or "" for unit in writer]
        if heads != sorted(heads):
            return []
    bounds: list[str | None] = [None, *_cuts(units, target), None]
    return [_timed_window(i, units, bounds[i], bounds[i + 1], answers) for i in range(len(bounds) - 1)]


def plan(files: ExpandedPaths, jobs: int, *, answers: bool = False) -> tuple[list[Window], str | None]:
    """The windows to read ``files`` by, for ``jobs`` processes, and a note when the capture
    must be read by one process though more were asked for."""
    writers = snapshot.writers(files)
    total = files.total_size if jobs > 1 else 0
    if jobs <= 1 or total <= MIN_WINDOW:
        return [_whole(writers, answers)], None
    target = min(MAX_WINDOW, max(MIN_WINDOW, total // (jobs * WINDOWS_PER_JOB)))
    if len(writers) == 1:
        return _plan_one(writers[0], target, answers), None
    windows = _plan_many(writers, target, answers)
    if not windows:
        return [_whole(writers, answers)], NOTE_UNORDERED
    return windows, None


# --- running ----------------------------------------------------------------------------


def _quiet() -> None:
    """In a worker: Ctrl-C is the parent's to handle (it stops the workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


Failure = tuple[type[MirrorError], str]


def _run(work: Callable[[Window, Feedback], T], window: Window) -> tuple[T | None, Feedback, Failure | None]:
    """In a worker: ``work`` on ``window``, with what it met (an error the user can act on
    goes back after the warnings before it)."""
    feedback = Feedback()
    try:
        return work(window, feedback), feedback, None
    except MirrorError as exc:
        return None, feedback, (type(exc), str(exc))  # its class and text: its own arguments may not pickle


def _raise(failure: Failure) -> None:
    """The error a worker met, raised here with its text and exit code."""
    kind, message = failure
    error = kind.__new__(kind)
    Exception.__init__(error, message)
    raise error


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


class _Joins:
    """The parent's check that each writer's records stay in time order across windows."""

    def __init__(self) -> None:
        self.last: dict[int, str] = {}

    def ok(self, orders: list[Order]) -> bool:
        for number, order in enumerate(orders):
            if not order.ordered:
                return False
            before = self.last.get(number)
            if order.shared == 0 and before is not None and order.first is not None and order.first < before:
                return False
            if order.last is not None:
                self.last[number] = order.last
        return True


def _rest(windows: list[Window], at: int) -> Window:
    """One window reading from ``windows[at]`` to the end, each writer from its first record
    at or after the cut (as :func:`iter_records` goes on from there)."""
    parts = []
    for number in range(len(windows[at].parts)):
        pieces = [p for w in windows[at:] for p in w.parts[number] if w.index == at or not p.quiet]
        parts.append(_joined(pieces))
    return replace(windows[at], parts=tuple(parts), until=None, resume=True)


def map_windows(
    files: ExpandedPaths,
    jobs: int,
    work: Callable[[Window, Feedback], T],
    *,
    answers: bool = False,
    on_warning: Warn = ignore,
    on_progress: Progress = ignore,
    on_note: Warn = ignore,
) -> Generator[T, None, None]:
    """``work`` (a top-level function) on each window of ``files``, by ``jobs`` processes;
    its results in window order (see the module)."""
    windows, note = plan(files, jobs, answers=answers)
    if note:
        on_note(note)
    if len(windows) == 1:
        yield work(windows[0], Feedback(on_warning, on_progress))
        return
    yield from _pooled(windows, jobs, work, on_warning, on_progress, on_note)


def _pooled(windows: list[Window], jobs: int, work: Callable[[Window, Feedback], T],
            on_warning: Warn, on_progress: Progress, on_note: Warn) -> Generator[T, None, None]:  # fmt: skip
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(windows)), mp_context=_context(), initializer=_quiet)
    pending: deque[Future[tuple[T | None, Feedback, Failure | None]]] = deque()
    queued = iter(windows)
    joins = _Joins()
    said = Feedback(on_warning, on_progress, join=True)  # damage going on across a cut is one warning
    try:
        for number, window in enumerate(windows):
            while len(pending) < 2 * jobs and (following := next(queued, None)) is not None:
                pending.append(pool.submit(_run, work, following))
            result, feedback, error = pending.popleft().result()
            if window.timed and not joins.ok(feedback.orders):
                on_note(NOTE_UNORDERED)
                _stop(pool, pending)
                yield work(_rest(windows, number), said)
                said.flush()
                return
            for message in feedback.warnings:
                said.said(message)
            on_progress(feedback.read)
            if error is not None:
                said.flush()
                _raise(error)
            yield result  # type: ignore[misc]  # None only with an error
        said.flush()
    except BrokenProcessPool:
        _stop(pool, pending)
        raise MirrorError("a reading process ended unexpectedly (out of memory?); try --jobs 1") from None
    except BaseException:
        _stop(pool, pending)
        raise
    pool.shutdown()


def _stop(pool: ProcessPoolExecutor, pending: deque[Any]) -> None:
    """Stop the workers now: what they were doing is not wanted any more."""
    for future in pending:
        future.cancel()
    for process in list(getattr(pool, "_processes", {}).values()):
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
