"""Reading snapshots for a command: warnings and progress on stderr, the filters applied."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import DownloadColumn, Progress

from sentry_mirror.core.malformed import Malformed
from sentry_mirror.core.query import Query
from sentry_mirror.core.shape import Skipped
from sentry_mirror.errors import MirrorError
from sentry_mirror.io.snapshot import expand, iter_records
from sentry_mirror.ui.safe import text

#: Reads bigger than this get a progress bar on stderr (when it is a terminal).
PROGRESS_THRESHOLD = 32 << 20


def stderr() -> Console:
    """A Console on stderr, for warnings and progress."""
    return Console(stderr=True, highlight=False)


def warn(message: str, console: Console | None = None) -> None:
    """``warning: message`` on stderr (or ``console``), visible and never read as markup."""
    (console or stderr()).print(text(f"warning: {message}", style="yellow"), soft_wrap=True)


@contextmanager
def reading(
    paths: tuple[str, ...],
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
    files = expand(paths or ("snapshots",))
    err = stderr()
    if not files:
        nothing = f"no snapshot files in {', '.join(paths or ('snapshots',))}"
        if required:
            raise MirrorError(nothing)
        warn(nothing, err)

    def warned(message: str) -> None:
        if isinstance(message, Skipped) and malformed is not None:
            malformed.skipped(message)
        warn(message, err)

    if malformed is not None:
        malformed.on_warning = warned

    def kept(records: Iterator[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        return records if query is None or query == Query() else query.matching(records)

    if err.is_terminal and files.total_size > PROGRESS_THRESHOLD:
        with Progress(*Progress.get_default_columns(), DownloadColumn(), console=err, transient=True) as progress:
            task = progress.add_task("reading", total=files.total_size)
            on_progress = lambda n: progress.advance(task, n)  # noqa: E731
            records = iter_records(files, on_warning=warned, on_progress=on_progress, answers=answers)
            yield kept(r.data for r in records)
    else:
        yield kept(r.data for r in iter_records(files, on_warning=warned, answers=answers))
