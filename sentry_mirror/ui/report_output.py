"""What ``report`` and ``diff`` share: building a report from snapshots, and writing the
result to stdout or to an owner-only file."""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console

from sentry_mirror.core import pii, report
from sentry_mirror.core.malformed import Malformed
from sentry_mirror.core.query import Query
from sentry_mirror.errors import MirrorError
from sentry_mirror.io.files import write_new
from sentry_mirror.io.parallel import Feedback, Window
from sentry_mirror.ui.env import Env
from sentry_mirror.ui.reading import merge_exact, read_again, reading, reading_windows, window_records

FORMATS = ("terminal", "markdown", "json", "html")


def emit(env: Env, text: str, output: Path | None) -> None:
    """``text`` to stdout (no ``output``, or ``-``), else into a new owner-only file (an
    existing one is an error, as for ``export`` and ``replay --results``)."""
    if output is None or str(output) == "-":
        click.echo(text, nl=False)
        return
    write_new(output, text.encode("utf-8"))  # owner-only: reports quote captured data
    env.console.print(f"written to {output}", style="dim")


def draw(env: Env, drawing: Callable[[Console], object], output: Path | None) -> None:
    """Draw on the console, or into plain text written to ``output``."""
    if output is None:
        drawing(env.console)
        return
    buffer = io.StringIO()
    drawing(Console(file=buffer, width=max(env.console.width, 120), no_color=True, highlight=False))
    emit(env, buffer.getvalue(), output)


def build(
    paths: tuple[str, ...],
    sections: tuple[str, ...],
    top: int,
    wanted: Query,
    engine: str = pii.ENGINE,
    *,
    required: bool = False,
    jobs: int = 1,
) -> report.Report:
    """The report over the records of ``paths`` that ``wanted`` keeps (no file at all is an
    error when ``required``: a diff against nothing would pass any check). No ``sections``
    means :data:`report.DEFAULT_SECTIONS` (what ``report`` without ``--section`` prints: the
    asked-only ``normalization`` left out). Answer records are read only for the sections
    that read them (``upstream``). ``jobs``: processes to read with (the same report: each
    reads windows of the capture into a partial one, merged in window order; when a part's
    groupers hit their bound, the capture is read again by one process, as ``group`` does)."""
    if engine == pii.RELAY_ENGINE and not pii.relay_available():
        raise MirrorError(
            "--pii-engine relay needs Sentry's scrubber: pip install sentry-relay (wheels for Linux and macOS)"
        )
    sections = sections or report.DEFAULT_SECTIONS
    answers = "upstream" in sections
    if jobs > 1:
        work = functools.partial(_partial_report, sections=frozenset(sections), top=top, wanted=wanted, engine=engine)
        with reading_windows(paths, jobs, work, wanted, required=required, answers=answers) as partials:
            merged = merge_exact(partials, _inexact)
        if merged is not None:
            return merged.build(sections)
        return _read_again(paths, sections, top, wanted, engine, answers=answers)
    malformed = Malformed(where="report")
    with reading(paths, malformed, wanted, required=required, answers=answers) as records:
        return report.build_report(records, sections, top_groups=top, pii_engine=engine, malformed=malformed)


def _inexact(partial: report.ReportBuilder) -> bool:
    """Whether ``partial`` hit a bound past which merging it is not exact: its groupers'
    (``issues``, ``performance``) past their group limit (``truncated``)."""
    return partial.issues.grouper.truncated or partial.performance.transactions.truncated


def _read_again(
    paths: tuple[str, ...], sections: tuple[str, ...], top: int, wanted: Query, engine: str, *, answers: bool
) -> report.Report:
    """The report by one process, quietly (the warnings of these records are out already;
    records skipped where read are counted again, as one pass counts them)."""
    malformed = Malformed(where="report")
    kept = read_again(paths, wanted, malformed, answers=answers)
    return report.build_report(kept, sections, top_groups=top, pii_engine=engine, malformed=malformed)


def _partial_report(
    window: Window, feedback: Feedback, *, sections: frozenset[str], top: int, wanted: Query, engine: str
) -> report.ReportBuilder:
    """In a worker: the report builder fed the records of one window (merged by the parent)."""
    malformed = Malformed(where="report")
    builder = report.ReportBuilder(
        sections=sections, top_groups=top, scan_pii="pii" in sections, pii_engine=engine, malformed=malformed
    )
    for data in window_records(window, feedback, malformed, wanted):
        builder.add(data)
    return builder
