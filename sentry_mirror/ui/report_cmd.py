"""``sentry-mirror report`` and ``sentry-mirror diff``: thin commands over
:mod:`sentry_mirror.core.report`, :mod:`sentry_mirror.core.diffing` and
:mod:`sentry_mirror.ui.render_report`."""

from __future__ import annotations

import io
from pathlib import Path

import click
from rich.console import Console

from sentry_mirror.core import diffing, pii, report
from sentry_mirror.core.malformed import Malformed
from sentry_mirror.errors import MirrorError
from sentry_mirror.io.files import write_private
from sentry_mirror.ui import render_report, render_report_diff, render_report_html, render_report_terminal
from sentry_mirror.ui.cli import Env, _reading, cli
from sentry_mirror.ui.safe import json_text

FORMATS = ("terminal", "markdown", "json", "html")
#: Sections diff needs from each side.
_DIFF_SECTIONS = ("traffic", "fields", "issues", "pii")


def _emit(env: Env, text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    if str(output) == "-":
        click.echo(text, nl=False)
        return
    write_private(output, text.encode("utf-8"))  # owner-only: reports quote captured data
    env.console.print(f"written to {output}", style="dim")


def _terminal_text(env: Env, draw: object, output: Path | None) -> str | None:
    """Draw on the console, or into plain text when writing a file."""
    if output is None:
        draw(env.console)  # type: ignore[operator]
        return None
    buffer = io.StringIO()
    draw(Console(file=buffer, width=max(env.console.width, 120), no_color=True, highlight=False))  # type: ignore[operator]
    return buffer.getvalue()


def _build(paths: tuple[str, ...], sections: tuple[str, ...], top: int, engine: str = pii.ENGINE) -> report.Report:
    if engine == pii.RELAY_ENGINE and not pii.relay_available():
        raise MirrorError(
            "--pii-engine relay needs Sentry's scrubber: pip install sentry-relay (wheels for Linux and macOS)"
        )
    malformed = Malformed(where="report")
    with _reading(paths, malformed) as records:
        return report.build_report(
            records, sections or report.SECTIONS, top_groups=top, pii_engine=engine, malformed=malformed
        )


@cli.command("report")
@click.argument("snapshots", nargs=-1)
@click.option(
    "--section", "sections", multiple=True, type=click.Choice(report.SECTIONS), help="Only this section (repeatable)."
)
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="terminal", show_default=True, help="Output format."
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of stdout."
)
@click.option(
    "--top", type=click.IntRange(min=1), default=report.TOP_GROUPS, show_default=True, help="Issue groups listed."
)
@click.option(
    "--max-paths", type=click.IntRange(min=0), help="Field paths shown per item type and SDK (json always has all)."
)
@click.option(
    "--pii-engine",
    type=click.Choice([pii.ENGINE, pii.RELAY_ENGINE]),
    default=pii.ENGINE,
    show_default=True,
    help="Who says what Sentry's default scrubbing removes: the built-in rules, or Sentry's own scrubber (needs sentry-relay).",
)
@click.pass_obj
def report_command(
    env: Env,
    snapshots: tuple[str, ...],
    sections: tuple[str, ...],
    fmt: str,
    output: Path | None,
    top: int,
    max_paths: int | None,
    pii_engine: str,
) -> None:
    """What the SDKs sent, for deciding what a server must handle.

    Traffic, field coverage, issues, performance, release health and monitors, what the
    SDKs dropped, personal data, source maps and releases, and what a server must support.
    SNAPSHOT is a file, a directory or a glob (default: snapshots/).

    Example:

        sentry-mirror report --format html -o report.html
    """
    built = _build(snapshots, sections, top, pii_engine)
    data = built.to_json()
    if fmt == "json":
        _emit(env, json_text(data, indent=True) + "\n", output)
        return
    title = f"sentry-mirror report: {', '.join(snapshots) or 'snapshots'}"
    document = render_report.document(data, max_paths=max_paths)
    if fmt == "markdown":
        _emit(env, render_report.markdown(document, title), output)
    elif fmt == "html":
        _emit(env, render_report_html.html_page(document, title), output)
    else:
        text = _terminal_text(env, lambda console: render_report_terminal.terminal(console, document, title), output)
        if text is not None:
            _emit(env, text, output)


@cli.command("diff")
@click.argument("a")
@click.argument("b")
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS[:3]), default="terminal", show_default=True, help="Output format."
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of stdout."
)
@click.option(
    "--fail-on",
    "fail_on",
    multiple=True,
    type=click.Choice(list(diffing.CONDITIONS)),
    help="Exit 1 when this holds (repeatable): " + "; ".join(f"{k}: {v}" for k, v in diffing.CONDITIONS.items()) + ".",
)
@click.option(
    "--coverage-threshold",
    type=click.FloatRange(0, 1),
    default=diffing.COVERAGE_THRESHOLD,
    show_default=True,
    help="Coverage change (a fraction) that counts as a change.",
)
@click.option(
    "--size-threshold",
    type=click.FloatRange(min=0),
    default=diffing.SIZE_THRESHOLD,
    show_default=True,
    help="Relative size change that counts as a change.",
)
@click.pass_obj
def diff_command(
    env: Env,
    a: str,
    b: str,
    fmt: str,
    output: Path | None,
    fail_on: tuple[str, ...],
    coverage_threshold: float,
    size_threshold: float,
) -> None:
    """What changed between two captures: counts, SDK versions, issues, fields, personal data, sizes.

    A and B are each a snapshot file, a directory or a glob. With --fail-on, exit 1 when a
    condition holds (to gate an SDK upgrade in CI).

    Example:

        sentry-mirror diff before/ after/ --fail-on new-pii --fail-on lost-fields
    """
    result = diffing.diff_reports(
        _build((a,), _DIFF_SECTIONS, report.TOP_GROUPS),
        _build((b,), _DIFF_SECTIONS, report.TOP_GROUPS),
        coverage_threshold=coverage_threshold,
        size_threshold=size_threshold,
    )
    data = result.to_json()
    title = f"sentry-mirror diff: {a} → {b}"
    if fmt == "json":
        _emit(env, json_text(data, indent=True) + "\n", output)
    else:
        document = render_report_diff.diff_document(data)
        if fmt == "markdown":
            text = (
                render_report.markdown(document, title)
                if document
                else f"# {title}\n\n{render_report_diff.NO_DIFFERENCES}\n"
            )
            _emit(env, text, output)
        elif not document:
            text = _terminal_text(env, lambda console: console.print(render_report_diff.NO_DIFFERENCES), output)
            if text is not None:
                _emit(env, text, output)
        else:
            text = _terminal_text(
                env, lambda console: render_report_terminal.terminal(console, document, title), output
            )
            if text is not None:
                _emit(env, text, output)
    failed = result.failures(fail_on)
    if failed:
        raise MirrorError(f"--fail-on: {'; '.join(failed)}")
