"""``sentry-mirror sourcemaps check``: will the captured JavaScript stack traces resolve
against the artifact bundles sentry-cli uploaded (and native images against debug files)?"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import click

from sentry_mirror.core.malformed import FATAL, Malformed
from sentry_mirror.core.query import Query
from sentry_mirror.core.sourcemaps import SourcemapCheck, load_symbolic
from sentry_mirror.errors import CheckFailed, MirrorError
from sentry_mirror.io.files import write_new
from sentry_mirror.ui import render_sourcemaps
from sentry_mirror.ui.env import Env
from sentry_mirror.ui.filters import filter_options, query
from sentry_mirror.ui.reading import reading, warn
from sentry_mirror.ui.safe import json_text


@click.group("sourcemaps")
def sourcemaps_group() -> None:
    """Source maps and debug files: will the captured stack traces resolve?

    Example:

    \b
        sentry-mirror sourcemaps check snapshots/
    """


@sourcemaps_group.command("check")
@click.argument("snapshots", nargs=-1, metavar="[SNAPSHOT]...")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (docs/sourcemaps.md has its schema).")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the result as an HTML page.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["unresolved"]),
    help="Exit 1 when an in-app JavaScript frame does not resolve (for CI).",
)
@filter_options()
@click.pass_obj
def check_command(
    env: Env, /, snapshots: tuple[str, ...], as_json: bool, html_file: Path | None, fail_on: str | None, **filters: Any
) -> None:
    """Resolve every JavaScript frame of the captured events against the uploaded bundles.

    Each frame's file is found as Sentry finds it: by the debug id of the event's
    debug_meta, else by release, dist and URL (~/ matches any host), and resolved with
    Sentry's symbolic library (pip install symbolic, or the sourcemaps extra). Every frame gets
    an outcome (resolved, file_missing, no_upload_for_release ...; docs/sourcemaps.md says
    what fixes each). Native images are matched against uploaded debug files. The filters
    choose the events; uploads are always read. SNAPSHOT is a file, a directory or a glob
    (default: snapshots/).

    Examples:

    \b
        sentry-mirror sourcemaps check snapshots/ --fail-on unresolved
        sentry-mirror sourcemaps check --release web@1.2.0 --json
    """
    load_symbolic()  # the install hint before any reading
    if html_file is not None and (html_file.exists() or html_file.is_symlink()):
        raise MirrorError(f"{html_file} already exists: choose another name or remove it")
    checker = SourcemapCheck()
    malformed = Malformed(where="sourcemaps check")
    wanted = query(filters)
    with reading(snapshots, malformed) as records:
        for data in _events(records, checker, wanted, malformed):
            _add(checker, data, malformed)
    data = checker.result().to_json()
    for warning in data["warnings"]:
        warn(warning)
    if html_file is not None:
        write_new(html_file, render_sourcemaps.html(data).encode("utf-8"))
    if as_json:
        click.echo(json_text(data, indent=True))
    else:
        render_sourcemaps.terminal(env.console, data)
        if html_file is not None:
            env.console.print(f"written to {html_file}", style="dim", markup=False)
    unresolved = data["totals"]["in_app_unresolved"]
    if fail_on == "unresolved" and unresolved:
        raise CheckFailed(f"--fail-on unresolved: {unresolved} in-app JavaScript frame(s) do not resolve")


def _add(checker: SourcemapCheck, data: Mapping[str, Any], malformed: Malformed) -> None:
    """One record into ``checker``; a record it raises on is counted and named, not fatal."""
    try:
        checker.add(data)
    except FATAL:
        raise
    except Exception as error:
        malformed.failed(data, error)


def _events(
    records: Iterator[Mapping[str, Any]], checker: SourcemapCheck, wanted: Query, malformed: Malformed
) -> Iterator[Mapping[str, Any]]:
    """The records ``wanted`` keeps; upload records go to ``checker`` whatever the filters."""

    def others() -> Iterator[Mapping[str, Any]]:
        for data in records:
            if data.get("endpoint") == "upload":
                _add(checker, data, malformed)
            else:
                yield data

    return wanted.matching(others())
