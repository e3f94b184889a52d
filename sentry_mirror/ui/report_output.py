"""What ``report`` and ``diff`` share: building a report from snapshots, and writing the
result to stdout or to an owner-only file."""

from __future__ import annotations

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
from sentry_mirror.ui.env import Env
from sentry_mirror.ui.reading import reading

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
) -> report.Report:
    """The report over the records of ``paths`` that ``wanted`` keeps (no file at all is an
    error when ``required``: a diff against nothing would pass any check). No ``sections``
    means :data:`report.DEFAULT_SECTIONS` (what ``report`` without ``--section`` prints: the
    asked-only ``normalization`` left out). Answer records are read only for the sections
    that read them (``upstream``)."""
    if engine == pii.RELAY_ENGINE and not pii.relay_available():
        raise MirrorError(
            "--pii-engine relay needs Sentry's scrubber: pip install sentry-relay (wheels for Linux and macOS)"
        )
    malformed = Malformed(where="report")
    sections = sections or report.DEFAULT_SECTIONS
    answers = "upstream" in sections
    with reading(paths, malformed, wanted, required=required, answers=answers) as records:
        return report.build_report(records, sections, top_groups=top, pii_engine=engine, malformed=malformed)
