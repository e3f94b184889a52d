"""``sentry-mirror sql``: SQL over snapshots with DuckDB (the views of docs/sql.md)."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

from sentry_mirror.io import duck
from sentry_mirror.ui import render_sql
from sentry_mirror.ui.env import Env
from sentry_mirror.ui.params import jobs_option
from sentry_mirror.ui.reading import snapshot_files, stderr, warn
from sentry_mirror.ui.sql_shell import shell

#: ``--jobs``: DuckDB's threads.
_JOBS: Callable[[Callable[..., None]], Callable[..., None]] = jobs_option(
    help="DuckDB threads: a number or auto (the cores)."
)


@click.command("sql")
@click.argument("snapshots", nargs=-1, metavar="[SNAPSHOT]...")
@click.option("-c", "--command", "statements", metavar="SQL", help="Run these statements (separated by ;) and exit.")
@click.option("--json", "fmt", flag_value="json", help="Write rows as a JSON array of objects.")
@click.option("--csv", "fmt", flag_value="csv", help="Write rows as CSV with a header line.")
@click.option(
    "--max-rows",
    type=click.IntRange(min=0),
    default=render_sql.MAX_ROWS,
    show_default=True,
    help="Rows shown in a table (0: all); --json and --csv write every row.",
)
@_JOBS
@click.pass_obj
def sql_command(
    env: Env, /, snapshots: tuple[str, ...], statements: str | None, fmt: str | None, max_rows: int, jobs: int
) -> None:
    """SQL over snapshots, with DuckDB (needs: pip install 'sentry-mirror[sql]').

    Views: requests, answers, items, events, frames, spans, breadcrumbs, client_reports,
    sessions (docs/sql.md). Without -c, statements are read from stdin, or asked for at a
    prompt when stdin is a terminal (.tables, .schema NAME, .quit).

    Example:

    \b
        sentry-mirror sql -c "SELECT sdk, count(*) FROM events GROUP BY sdk"
    """
    err = stderr()
    duck.load_duckdb()  # before anything is read: what to install when it is missing
    files = snapshot_files(snapshots, console=err)
    with duck.connect(files, threads=jobs, on_warning=lambda m: warn(m, err)) as session:
        if statements is None and sys.stdin.isatty():
            shell(session, env, max_rows)
            return
        text = statements if statements is not None else sys.stdin.read()
        for statement in render_sql.split(session, text):
            render_sql.emit(session.run(statement), env, fmt or "table", max_rows, sys.stdout)
