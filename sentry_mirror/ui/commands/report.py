"""``sentry-mirror report``: what the SDKs sent, for deciding what a server must handle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from sentry_mirror.core import pii, report
from sentry_mirror.ui import render_report, render_report_html, render_report_terminal, report_document
from sentry_mirror.ui.env import Env
from sentry_mirror.ui.filters import filter_options, query
from sentry_mirror.ui.params import jobs_option
from sentry_mirror.ui.reading import warn
from sentry_mirror.ui.report_output import FORMATS, build, draw, emit
from sentry_mirror.ui.safe import json_text

#: Why an optional section asked for is absent.
_ABSENT = {
    "upstream": "no answer records read (they are written by listen --forward or --tee)",
    "releases": "no upload or web API records read (sentry-cli pointed at the mirror writes them)",
    "behaviour": "no request a scripted rule answered (listen --scenario/--script and probe write them)",
    "normalization": "no event, transaction or feedback read",
}


@click.command("report")
@click.argument("snapshots", nargs=-1, metavar="[SNAPSHOT]...")
@click.option(
    "--section",
    "sections",
    multiple=True,
    type=click.Choice(report.EVERY_SECTION),
    metavar="NAME",
    help="Only this section (repeatable): "
    + ", ".join(report.EVERY_SECTION)
    + " (normalization only when named: it needs sentry-relay).",
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
@filter_options()
@jobs_option()
@click.pass_obj
def report_command(
    env: Env,
    /,
    snapshots: tuple[str, ...],
    sections: tuple[str, ...],
    fmt: str,
    output: Path | None,
    top: int,
    max_paths: int | None,
    pii_engine: str,
    jobs: int,
    **filters: Any,
) -> None:
    """What the SDKs sent, for deciding what a server must handle.

    Traffic, field coverage, issues, performance, release health and monitors, what the
    SDKs dropped, personal data, source maps and releases, and what a server must support;
    over snapshots of forward mode (listen --forward/--tee), what the upstream and the
    candidates answered; over snapshots sentry-cli uploaded to, releases, commits, deploys,
    source map bundles and debug files; over snapshots holding scripted answers (listen
    --scenario/--script, probe), what each SDK did around them, judged against the SDK
    development spec; with --section normalization (needs sentry-relay), what Sentry's
    ingestion (Relay's normaliser) would trim, drop, rename or reject in each event. SNAPSHOT
    is a file, a directory or a glob (default: snapshots/). Takes the same filters as inspect (on forward mode's answers: --endpoint, --item-type,
    --since and --until). --jobs N reads with N processes (by file and zstd frame); the
    report is the same.

    Examples:

    \b
        sentry-mirror report --format html -o report.html
        sentry-mirror report --section pii --sdk sentry.python
    """
    data = build(snapshots, sections, top, query(filters), pii_engine, jobs=jobs).to_json()
    for name in set(sections).difference(data["sections"]):
        warn(f"no section {name}: {_ABSENT[name]}")
    if fmt == "json":
        emit(env, json_text(data, indent=True) + "\n", output)
        return
    title = f"sentry-mirror report: {', '.join(snapshots) or 'snapshots'}"
    document = report_document.document(data, max_paths=max_paths)
    if fmt == "markdown":
        emit(env, render_report.markdown(document, title), output)
    elif fmt == "html":
        emit(env, render_report_html.html_page(document, title), output)
    else:
        draw(env, lambda console: render_report_terminal.terminal(console, document, title), output)
