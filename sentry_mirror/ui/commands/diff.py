"""``sentry-mirror diff``: what changed between two captures, optionally as a CI gate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from sentry_mirror.core import diffing, report
from sentry_mirror.errors import CheckFailed
from sentry_mirror.ui import render_report, render_report_diff, render_report_terminal
from sentry_mirror.ui.env import Env
from sentry_mirror.ui.filters import filter_options, query
from sentry_mirror.ui.params import jobs_option
from sentry_mirror.ui.report_output import FORMATS, build, draw, emit
from sentry_mirror.ui.safe import json_text

#: Sections diff needs from each side.
_SECTIONS = ("traffic", "fields", "issues", "pii")


@click.command("diff")
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
    metavar="CONDITION",
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
@filter_options()
@jobs_option()
@click.pass_obj
def diff_command(
    env: Env,
    /,
    a: str,
    b: str,
    fmt: str,
    output: Path | None,
    fail_on: tuple[str, ...],
    coverage_threshold: float,
    size_threshold: float,
    jobs: int,
    **filters: Any,
) -> None:
    """What changed between two captures: counts, SDK versions, issues, fields, personal data, sizes.

    A and B are each a snapshot file, a directory or a glob. The filters (the same as
    inspect's) apply to both. With --fail-on, exit 1 when a condition holds (to gate an
    SDK upgrade in CI). --jobs N reads each capture with N processes; the diff is the same.

    Examples:

    \b
        sentry-mirror diff before/ after/ --fail-on new-pii --fail-on lost-fields
        sentry-mirror diff before/ after/ --sdk sentry.python --format markdown
    """
    wanted = query(filters)
    result = diffing.diff_reports(
        build((a,), _SECTIONS, report.TOP_GROUPS, wanted, required=True, jobs=jobs),
        build((b,), _SECTIONS, report.TOP_GROUPS, wanted, required=True, jobs=jobs),
        coverage_threshold=coverage_threshold,
        size_threshold=size_threshold,
    )
    data = result.to_json()
    title = f"sentry-mirror diff: {a} → {b}"
    document = render_report_diff.diff_document(data) if fmt != "json" else None
    if fmt == "json":
        emit(env, json_text(data, indent=True) + "\n", output)
    elif fmt == "markdown":
        nothing = f"# {title}\n\n{render_report_diff.NO_DIFFERENCES}\n"
        emit(env, render_report.markdown(document, title) if document else nothing, output)
    elif not document:
        draw(env, lambda console: console.print(render_report_diff.NO_DIFFERENCES), output)
    else:
        draw(env, lambda console: render_report_terminal.terminal(console, document, title), output)
    failed = result.failures(fail_on)
    if failed:
        raise CheckFailed(f"--fail-on: {'; '.join(failed)}")
