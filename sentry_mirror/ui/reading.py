"""Reading snapshots for a command: warnings and progress on stderr, the filters applied."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol, Self, TypeVar

from rich.console import Console
from rich.progress import DownloadColumn, Progress

from sentry_mirror.core.malformed import Malformed
from sentry_mirror.core.query import Query
from sentry_mirror.core.shape import Skipped
from sentry_mirror.errors import MirrorError
from sentry_mirror.io.parallel import Feedback, Window, map_windows, read_window
from sentry_mirror.io.snapshot import ExpandedPaths, expand, iter_records
from sentry_mirror.ui.safe import text

#: Reads bigger than this get a progress bar on stderr (when it is a terminal).
PROGRESS_THRESHOLD = 32 << 20

T = TypeVar("T")


class _Mergeable(Protocol):
    def merge(self, other: Self) -> None: ...


M = TypeVar("M", bound=_Mergeable)


def stderr() -> Console:
    """A Console on stderr, for warnings and progress."""
    return Console(stderr=True, highlight=False)


def warn(message: str, console: Console | None = None) -> None:
    """``warning: message`` on stderr (or ``console``), visible and never read as markup."""
    (console or stderr()).print(text(f"warning: {message}", style="yellow"), soft_wrap=True)


@contextmanager
def reading(
    paths: tuple[str, ...] | ExpandedPaths,
    malformed: Malformed | None = None,
    query: Query | None = None,
    *,
    required: bool = False,
    answers: bool = False,
) -> Iterator[Iterator[Mapping[str, Any]]]:
    """Records (as dicts) from ``paths`` (default ``snapshots/``) that match ``query``, with
    warnings and, for long reads, a progress bar on stderr. Records skipped as unusable are
    counted in ``malformed``, whose warnings go to stderr too. No snapshot file at all (an
    empty directory, a glob matching nothing) is a warning, or an error when ``required``.
    ``answers``: the answer records of forward mode too (:mod:`sentry_mirror.core.answer`;
    how the query treats them: :meth:`~sentry_mirror.core.query.Query.matching`)."""
    files = snapshot_files(paths, required)
    err = stderr()
    warned = _warned(malformed, lambda message: warn(message, err))
    if malformed is not None:
        malformed.on_warning = lambda message: warn(message, err)  # it counted the record itself

    def kept(records: Iterator[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        return records if query is None else query.matching(records)

    with _progress(files, err) as on_progress:
        yield kept(r.data for r in iter_records(files, on_warning=warned, on_progress=on_progress, answers=answers))


def _warned(malformed: Malformed | None, sink: Callable[[str], None]) -> Callable[[str], None]:
    """A reader's warning callback: a :class:`Skipped` record is counted in ``malformed``,
    then every warning goes on to ``sink``."""

    def warned(message: str) -> None:
        if isinstance(message, Skipped) and malformed is not None:
            malformed.skipped(message)
        sink(message)

    return warned


def _expanded(paths: tuple[str, ...]) -> ExpandedPaths:
    """The snapshot files of ``paths`` (default ``snapshots/``)."""
    return expand(paths or ("snapshots",))


def snapshot_files(
    paths: tuple[str, ...] | ExpandedPaths, required: bool = False, console: Console | None = None
) -> ExpandedPaths:
    """The snapshot files of ``paths`` (default ``snapshots/``); none is a warning (on
    ``console``, default stderr), or an error when ``required``. Paths already expanded
    were checked when they were: given back as they are."""
    if isinstance(paths, ExpandedPaths):
        return paths
    files = _expanded(paths)
    if not files:
        nothing = f"no snapshot files in {', '.join(paths or ('snapshots',))}"
        if required:
            raise MirrorError(nothing)
        warn(nothing, console)
    return files


@contextmanager
def _progress(files: ExpandedPaths, err: Console) -> Iterator[Callable[[int], None]]:
    """The progress callback of a read: a bar on stderr for long reads (on a terminal)."""
    if err.is_terminal and files.total_size > PROGRESS_THRESHOLD:
        with Progress(*Progress.get_default_columns(), DownloadColumn(), console=err, transient=True) as progress:
            task = progress.add_task("reading", total=files.total_size)
            yield lambda n: progress.advance(task, n)
    else:
        yield lambda _: None


@contextmanager
def reading_windows(
    paths: tuple[str, ...],
    jobs: int,
    work: Callable[[Window, Feedback], T],
    query: Query | None = None,
    *,
    required: bool = False,
    answers: bool = False,
) -> Iterator[Iterator[T]]:
    """:func:`reading` by ``jobs`` processes: ``work`` (a top-level function, or a
    ``functools.partial`` of one, taking :func:`window_records` of its window) runs on each
    window of the capture (:mod:`sentry_mirror.io.parallel`); its results come in window
    order, the warnings each window met on stderr in the same order, and the progress bar
    as :func:`reading` draws it. A ``query`` with a limit is read by one process (what the
    limit keeps depends on every record before)."""
    files = snapshot_files(paths, required)
    err = stderr()
    if query is not None and query.limit is not None:
        jobs = 1
    with _progress(files, err) as on_progress:
        partials = map_windows(
            files,
            jobs,
            work,
            answers=answers,
            on_warning=lambda message: warn(message, err),
            on_progress=on_progress,
            on_note=lambda message: err.print(text(message, style="dim"), soft_wrap=True),
        )
        try:
            yield partials
        finally:
            partials.close()  # the workers stop now, also when the caller failed


def window_records(
    window: Window, feedback: Feedback, malformed: Malformed | None = None, query: Query | None = None
) -> Iterator[Mapping[str, Any]]:
    """In a worker: the records of ``window`` that match ``query``, as :func:`reading` gives
    them; records skipped as unusable counted in ``malformed``, whose warnings (and the
    reader's) go to ``feedback``, in the order met."""

    if malformed is not None:
        malformed.on_warning = feedback.warn  # it counted the record itself
    reader = Feedback(
        _warned(malformed, feedback.warn), feedback.progress, orders=feedback.orders, on_damage=feedback.damaged
    )
    records = (r.data for r in read_window(window, reader))
    return records if query is None else query.matching(records)


def read_again(
    paths: tuple[str, ...], wanted: Query, malformed: Malformed, *, answers: bool = False
) -> Iterator[Mapping[str, Any]]:
    """The records of ``paths`` matching ``wanted`` once more, by this process and quietly:
    for a ``--jobs`` read whose parts cannot be merged exactly (their warnings are out
    already). Records skipped where read are counted in ``malformed`` again, as one pass
    counts them."""
    counted = _warned(malformed, lambda _: None)
    records = (r.data for r in iter_records(_expanded(paths), on_warning=counted, answers=answers))
    return wanted.matching(records)


def merge_exact(partials: Iterable[M], inexact: Callable[[M], bool]) -> M | None:
    """The ``--jobs`` partial results merged in window order, or None when merging them is
    not exact (a part, or what they merge into, is ``inexact``: past a bound) or there is
    none: then the caller reads the capture again by one process (:func:`read_again`)."""
    merged: M | None = None
    exact = True
    for part in partials:
        exact = exact and not inexact(part)
        if merged is None:
            merged = part
        elif exact:
            merged.merge(part)
    return merged if merged is not None and exact and not inexact(merged) else None
