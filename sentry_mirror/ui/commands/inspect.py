"""``sentry-mirror inspect``: list what was captured, follow it live, or show one request whole."""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from typing import Any

import click
import orjson

from sentry_mirror.core import bodies
from sentry_mirror.core.malformed import Malformed
from sentry_mirror.core.query import Query, find
from sentry_mirror.io.follow import follow
from sentry_mirror.io.parallel import Feedback, Window
from sentry_mirror.ui import render, render_inspect
from sentry_mirror.ui.env import Env
from sentry_mirror.ui.filters import filter_options, query
from sentry_mirror.ui.params import jobs_option
from sentry_mirror.ui.reading import reading, reading_windows, stderr, warn, window_records
from sentry_mirror.ui.safe import text
from sentry_mirror.ui.showing import WithShow

#: Rows per page of the inspect table (the first page sets the column widths).
TABLE_PAGE = 500


def _pages(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    page: list[Any] = []
    for item in items:
        page.append(item)
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page


@click.command("inspect", cls=WithShow)
@click.argument("snapshots", nargs=-1, metavar="[SNAPSHOT]...")
@filter_options()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per request (for jq).")
@click.option(
    "--raw",
    metavar="ID",
    help="Write the exact decoded body of one request to stdout, raw: every byte as sent, control characters too (redirect it to a file or a pipe).",
)
@click.option("--follow", "-f", is_flag=True, help="Print new requests as listeners write them (until Ctrl-C).")
@jobs_option("Processes to read with, for --json: a number or auto (the cores); the output is the same as with 1.")
@click.pass_obj
def inspect_command(
    env: Env, /, snapshots: tuple[str, ...], as_json: bool, raw: str | None, follow: bool, jobs: int, **filters: Any
) -> None:
    """List what was captured: one row per request, filtered.

    SNAPSHOT is a file, a directory or a glob (default: snapshots/). `inspect show ID`
    shows one request whole (ID: a record id, an event id, or a unique prefix).

    Examples:

    \b
        sentry-mirror inspect --item-type event --since 10m
        sentry-mirror inspect show 3f2a
        sentry-mirror inspect --raw 3f2a > body.envelope
    """
    if jobs != 1 and (raw or follow or not as_json):
        raise click.UsageError("--jobs reads with several processes only for --json (not with --raw or --follow)")
    if raw:
        with reading(snapshots) as records:
            data = find(records, raw)
        for chunk in bodies.chunks(data):  # a body kept compressed is decoded step by step
            sys.stdout.buffer.write(chunk)
    elif follow:
        _follow(env, snapshots, query(filters), as_json)
    elif as_json:
        _json_lines(snapshots, query(filters), jobs)
    else:
        _table(env, snapshots, query(filters))


@inspect_command.show_command()
@click.argument("ident", metavar="ID")
@click.argument("snapshots", nargs=-1, metavar="[SNAPSHOT]...")
@click.pass_obj
def show_command(env: Env, ident: str, snapshots: tuple[str, ...]) -> None:
    """Show one request whole: its request line, headers, auth and every item.

    ID is a record id, an event id, or a unique prefix of one.

    Example:

    \b
        sentry-mirror inspect show 3f2a snapshots/
    """
    with reading(snapshots) as records:
        data = find(records, ident)
    render_inspect.show_record(env.console, data)  # type: ignore[arg-type]


def _json_lines(snapshots: tuple[str, ...], wanted: Query, jobs: int) -> None:
    out = sys.stdout.buffer
    if jobs > 1:
        work = functools.partial(_json_window, wanted=wanted)
        with reading_windows(snapshots, jobs, work, wanted) as partials:
            for lines in partials:
                out.write(lines)
        out.flush()
        return
    malformed = Malformed(where="inspect")
    with reading(snapshots, malformed) as records:
        for _, row in wanted.select(records, malformed):
            out.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))
        out.flush()


def _json_window(window: Window, feedback: Feedback, *, wanted: Query) -> bytes:
    """In a worker: the JSON lines of one window's requests (written in order by the parent)."""
    malformed = Malformed(where="inspect")
    records = window_records(window, feedback, malformed)
    return b"".join(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE) for _, row in wanted.select(records, malformed))


def _table(env: Env, snapshots: tuple[str, ...], wanted: Query) -> None:
    """Printed a page at a time: memory stays flat however long the listing."""
    malformed = Malformed(where="inspect")
    with reading(snapshots, malformed) as records:
        widths, total = None, 0
        for page in _pages((row for _, row in wanted.select(records, malformed)), TABLE_PAGE):
            table, widths = render_inspect.inspect_table(page, env.console.width, widths=widths, header=widths is None)
            env.console.print(table)
            total += len(page)
    if total == 0:
        env.console.print("no request matches", style="dim")
    env.console.print(f"{total} request(s)", style="dim")


def _follow(env: Env, snapshots: tuple[str, ...], wanted: Query, as_json: bool) -> None:
    err = stderr()
    lines = render.LiveLines(env.console)
    where = ", ".join(snapshots or ("snapshots",))
    records = follow(
        snapshots or ("snapshots",),
        on_warning=lambda m: warn(m, err),
        on_ready=lambda files: err.print(
            text(f"following {where} ({files} file(s) so far; Ctrl-C to stop)", style="dim"), soft_wrap=True
        ),
    )
    try:
        for data, row in wanted.select(r.data for r in records):
            if as_json:
                sys.stdout.buffer.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))
                sys.stdout.buffer.flush()
            else:
                lines.write(data)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        pass  # Ctrl-C is how following ends
