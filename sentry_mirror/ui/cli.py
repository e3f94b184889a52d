"""The ``sentry-mirror`` command line.

Commands only parse options, call one function and render. Every
:class:`~sentry_mirror.errors.MirrorError` becomes a message and an exit code in one
place, :class:`MirrorGroup`; ``--traceback`` shows the Python traceback instead.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import orjson
from rich.console import Console
from rich.progress import DownloadColumn, Progress

from sentry_mirror import __version__
from sentry_mirror.core import bodies, encoding, grouping, ingest
from sentry_mirror.core.malformed import Malformed
from sentry_mirror.core.query import Query, find, parse_moment
from sentry_mirror.core.shape import Skipped
from sentry_mirror.core.text import visible_lines
from sentry_mirror.errors import ExitCode, MirrorError
from sentry_mirror.io.export import export_envelopes, export_snapshot
from sentry_mirror.io.follow import follow
from sentry_mirror.io.snapshot import expand, iter_records
from sentry_mirror.ui import render
from sentry_mirror.ui.safe import json_text, text

#: Rows per page of the inspect table (the first page sets the column widths).
TABLE_PAGE = 500
#: Reads bigger than this get a progress bar on stderr (when it is a terminal).
PROGRESS_THRESHOLD = 32 << 20

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$", re.IGNORECASE)
_SECONDS = {"ms": 0.001, "s": 1, "": 1, "m": 60, "h": 3600, "d": 86400}


class Size(click.ParamType):
    """``200MiB``, ``100MB``, ``64k``, ``1048576``: bytes (``i`` means powers of 1024)."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        match = _SIZE.match(str(value))
        if not match:
            self.fail(f"{value!r} is not a size like 100MB, 200MiB or 65536", param, ctx)
        unit = (match.group(2) or "").lower()
        base = _UNITS[unit[:1] if unit[:1] != "b" else ""]
        if "i" in unit:
            base = 1024 ** "kmgt".index(unit[0]) * 1024
        return int(float(match.group(1)) * base)


class Duration(click.ParamType):
    """``90s``, ``10m``, ``1h``, ``1d``: seconds."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        match = _DURATION.match(str(value))
        if not match:
            self.fail(f"{value!r} is not a duration like 90s, 10m, 1h or 1d", param, ctx)
        return float(match.group(1)) * _SECONDS[(match.group(2) or "").lower()]


@dataclass
class Env:
    """Per-invocation state: the Console (made here, never at import) and --traceback."""

    console: Console
    traceback: bool


class UserError(click.ClickException):
    """A MirrorError on its way out, with its own exit code."""

    def __init__(self, error: MirrorError) -> None:
        super().__init__(visible_lines(str(error)))  # it may quote captured data
        self.exit_code = int(error.exit_code)


class MirrorGroup(click.Group):
    """Turns MirrorError into a message and an exit code, for every command."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MirrorError as error:
            env = ctx.find_object(Env)
            if env is not None and env.traceback:
                raise
            raise UserError(error) from None
        except KeyboardInterrupt:
            raise click.exceptions.Exit(ExitCode.INTERRUPTED) from None


@click.group(cls=MirrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sentry-mirror")
@click.option("--traceback", is_flag=True, help="Show the Python traceback of an error, not just its message.")
@click.pass_context
def cli(ctx: click.Context, traceback: bool) -> None:
    """A drop-in Sentry DSN that records what SDKs send, and tools to read it.

    Example:

        sentry-mirror listen
    """
    ctx.obj = Env(console=Console(highlight=False), traceback=traceback)


def _display_host(host: str) -> str:
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


@cli.command("listen")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; 0.0.0.0 exposes the mirror to your network.",
)
@click.option(
    "--port",
    default=9001,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to bind; 0 picks a free one (printed).",
)
@click.option(
    "--dir",
    "directory",
    default="snapshots",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the snapshot files.",
)
@click.option("--rotate-size", type=Size(), help="Start a new snapshot file after this many bytes (e.g. 100MB).")
@click.option("--rotate-every", type=Duration(), help="Start a new snapshot file after this long (e.g. 1h).")
@click.option("--fsync", is_flag=True, help="fsync every group of records before answering (survives power loss).")
@click.option(
    "--key",
    "keys",
    multiple=True,
    metavar="KEY",
    help="Accept only this public key (repeatable); others get 403 as from Sentry.",
)
@click.option(
    "--tunnel",
    "tunnel_path",
    default="/tunnel",
    show_default=True,
    help="Path of the tunnel endpoint (browser SDK `tunnel` option).",
)
@click.option(
    "--max-body",
    type=Size(),
    default=encoding.DEFAULT_MAX_BODY,
    show_default="200MiB",
    help="Largest decoded body accepted; bigger ones (and decompression bombs) get 413.",
)
@click.option(
    "--header-timeout",
    type=Duration(),
    default=5.0,
    show_default="5s",
    help="Close a connection whose request head takes longer (Relay's 5 s); also ends idle keep-alive connections.",
)
@click.option(
    "--body-timeout",
    type=Duration(),
    default=30.0,
    show_default="30s",
    help="Answer 408 when a body stops arriving for this long (it is still recorded).",
)
@click.option(
    "--grace",
    type=Duration(),
    default=5.0,
    show_default="5s",
    help="On Ctrl-C/SIGTERM, time requests in flight get to finish; bodies still arriving then get 503.",
)
@click.option("--quiet", "-q", is_flag=True, help="Do not print a line per request.")
@click.pass_obj
def listen_command(
    env: Env,
    host: str,
    port: int,
    directory: Path,
    rotate_size: int | None,
    rotate_every: float | None,
    fsync: bool,
    keys: tuple[str, ...],
    tunnel_path: str,
    max_body: int,
    header_timeout: float,
    body_timeout: float,
    grace: float,
    quiet: bool,
) -> None:
    """Impersonate a Sentry DSN and record every request into zstd JSONL snapshots.

    Paste the printed DSN into your app's Sentry SDK. Every request is on disk before
    it is answered, as Sentry would answer it. Stop with Ctrl-C.

    Example:

        sentry-mirror listen --port 0 --rotate-every 1h
    """
    config = ingest.Config(keys=frozenset(keys), tunnel_path="/" + tunnel_path.strip("/"), max_body=max_body)
    from sentry_mirror.io.listener import ListenOptions, Ready, listen  # the server stack: only this command needs it
    from sentry_mirror.io.server import Timeouts

    timeouts = Timeouts(header=header_timeout, body=body_timeout, grace=grace)
    options = ListenOptions(host, port, directory, rotate_size, rotate_every, fsync, config, timeouts)
    console = env.console

    def ready(info: Ready) -> None:
        dsn = f"http://{next(iter(sorted(keys)), 'mirror')}@{_display_host(info.host)}:{info.port}/1"
        path = info.recorder.path
        render.banner(console, dsn, os.path.relpath(path) if path else "-", keys=config.keys)
        sys.stdout.flush()

    def rotated(path: Path) -> None:
        render.into_line(console, os.path.relpath(path))

    lines = render.LiveLines(console)
    stopped = asyncio.run(listen(options, on_ready=ready, on_record=None if quiet else lines.write, on_rotate=rotated))
    console.print(f"  stopped: {stopped.records} requests in {len(stopped.files)} file(s)", style="dim")
    if stopped.refused:
        console.print(
            f"  {stopped.refused} request(s) were answered 503: the snapshot could not be written", style="yellow"
        )


# ---------------------------------------------------------------- reading snapshots


def filter_options(command: Any) -> Any:
    """The filters shared by inspect and export; they compose (all must hold)."""
    options = [
        click.option(
            "--item-type", "item_types", multiple=True, help="Keep requests carrying this item type (repeatable)."
        ),
        click.option(
            "--endpoint",
            "endpoints",
            multiple=True,
            type=click.Choice([*ingest.ENDPOINTS, "unknown"]),
            help="Keep this endpoint (repeatable).",
        ),
        click.option("--project", "projects", multiple=True, help="Keep this project id (repeatable)."),
        click.option("--sdk", "sdks", multiple=True, help="Keep this SDK: name, or name@version (repeatable)."),
        click.option("--event-id", "event_ids", multiple=True, help="Keep this event id or id prefix (repeatable)."),
        click.option("--level", "levels", multiple=True, help="Keep this event level (repeatable)."),
        click.option("--environment", "environments", multiple=True, help="Keep this environment (repeatable)."),
        click.option("--release", "releases", multiple=True, help="Keep this release (repeatable)."),
        click.option(
            "--status", "statuses", multiple=True, help="Keep this response status: 200, 4xx ... (repeatable)."
        ),
        click.option("--since", help="Keep requests at or after this time: 10m, 2h, 1d or 2026-11-23T10:00:00Z."),
        click.option("--until", help="Keep requests at or before this time (same forms as --since)."),
        click.option("--grep", help="Keep requests whose decoded body contains this text."),
        click.option(
            "--errors-only", is_flag=True, help="Keep requests that failed to parse or were answered non-2xx."
        ),
        click.option("--limit", type=click.IntRange(min=1), help="Stop after this many matching requests."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _query(filters: dict[str, Any]) -> Query:
    now = datetime.now(UTC)
    values = {key: frozenset(value) for key, value in filters.items() if isinstance(value, tuple)}
    return Query(
        **values,
        since=parse_moment(filters["since"], now) if filters.get("since") else None,
        until=parse_moment(filters["until"], now) if filters.get("until") else None,
        grep=filters.get("grep"),
        errors_only=filters.get("errors_only", False),
        limit=filters.get("limit"),
    )


@contextmanager
def _reading(paths: tuple[str, ...], malformed: Malformed | None = None) -> Iterator[Iterator[Any]]:
    """Records (as dicts) from ``paths`` with warnings and, for long reads, a progress bar on stderr.
    Records skipped as unusable are counted in ``malformed``, whose warnings go to stderr too."""
    files = expand(paths or ("snapshots",))
    err = Console(stderr=True, highlight=False)

    def warn(message: str) -> None:
        if isinstance(message, Skipped) and malformed is not None:
            malformed.skipped(message)
        err.print(text(f"warning: {message}", style="yellow"), soft_wrap=True)

    if malformed is not None:
        malformed.on_warning = warn

    if err.is_terminal and files.total_size > PROGRESS_THRESHOLD:
        with Progress(*Progress.get_default_columns(), DownloadColumn(), console=err, transient=True) as progress:
            task = progress.add_task("reading", total=files.total_size)
            yield (
                r.data for r in iter_records(files, on_warning=warn, on_progress=lambda n: progress.advance(task, n))
            )
    else:
        yield (r.data for r in iter_records(files, on_warning=warn))


def _pages(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    page: list[Any] = []
    for item in items:
        page.append(item)
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page


@cli.command("inspect")
@click.argument("args", nargs=-1, metavar="[show ID] [SNAPSHOT]...")
@filter_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per request (for jq).")
@click.option(
    "--raw",
    metavar="ID",
    help="Write the exact decoded body of one request to stdout, raw: every byte as sent, control characters too (redirect it to a file or a pipe).",
)
@click.option("--follow", "-f", is_flag=True, help="Print new requests as listeners write them (until Ctrl-C).")
@click.pass_obj
def inspect_command(
    env: Env, args: tuple[str, ...], as_json: bool, raw: str | None, follow: bool, **filters: Any
) -> None:
    """List what was captured: one row per request, filtered.

    SNAPSHOT is a file, a directory or a glob (default: snapshots/). `inspect show ID`
    shows one request whole (ID: a record id, an event id, or a unique prefix).

    Example:

        sentry-mirror inspect --item-type event --since 10m
    """
    if args[:1] == ("show",) or raw:
        ident = raw if raw else (args[1] if len(args) > 1 else "")
        with _reading(args[2:] if not raw else args) as records:
            data = find(records, ident)
        if raw:
            for chunk in bodies.chunks(data):  # a body kept compressed is decoded step by step
                sys.stdout.buffer.write(chunk)
        else:
            render.show_record(env.console, data)  # type: ignore[arg-type]
        return
    if follow:
        _follow(env, args, _query(filters), as_json)
        return
    malformed = Malformed(where="inspect")
    with _reading(args, malformed) as records:
        selected = _query(filters).select(records, malformed)
        if as_json:
            out = sys.stdout.buffer
            for _, row in selected:
                out.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))
            out.flush()
            return
        # printed a page at a time: memory stays flat however long the listing
        widths, total = None, 0
        for page in _pages((row for _, row in selected), TABLE_PAGE):
            table, widths = render.inspect_table(page, env.console.width, widths=widths, header=widths is None)
            env.console.print(table)
            total += len(page)
    if total == 0:
        env.console.print("no request matches", style="dim")
    env.console.print(f"{total} request(s)", style="dim")


def _follow(env: Env, args: tuple[str, ...], query: Query, as_json: bool) -> None:
    err = Console(stderr=True, highlight=False)
    lines = render.LiveLines(env.console)
    where = ", ".join(args or ("snapshots",))
    records = follow(
        args or ("snapshots",),
        on_warning=lambda m: err.print(text(f"warning: {m}", style="yellow"), soft_wrap=True),
        on_ready=lambda files: err.print(
            text(f"following {where} ({files} file(s) so far; Ctrl-C to stop)", style="dim"), soft_wrap=True
        ),
    )
    try:
        for data, row in query.select(r.data for r in records):
            if as_json:
                sys.stdout.buffer.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))
                sys.stdout.buffer.flush()
            else:
                lines.write(data)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        pass  # Ctrl-C is how following ends


def _warn_stderr(message: str) -> None:
    Console(stderr=True, highlight=False).print(f"warning: {message}", style="yellow", soft_wrap=True, markup=False)


@cli.command("export")
@click.argument("snapshots", nargs=-1)
@filter_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write a new snapshot file.")
@click.option(
    "--envelopes",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write one .envelope file per request into this directory.",
)
@click.pass_obj
def export_command(
    env: Env, snapshots: tuple[str, ...], output: Path | None, envelopes: Path | None, **filters: Any
) -> None:
    """Write the matching requests as a new snapshot, or as .envelope files.

    Example:

        sentry-mirror export --item-type event -o errors.jsonl.zst
    """
    if (output is None) == (envelopes is None):
        raise click.UsageError("give exactly one of -o/--output and --envelopes")
    with _reading(snapshots) as records:
        selected = _query(filters).matching(records)
        done = export_snapshot(selected, output) if output else export_envelopes(selected, envelopes, warn=_warn_stderr)  # type: ignore[arg-type]
    skipped = f" ({done.skipped} skipped: not an accepted envelope)" if done.skipped else ""
    env.console.print(text(f"{done.written} request(s) written to {done.target}{skipped}"))


@cli.command("group")
@click.argument("args", nargs=-1, metavar="[show GROUP] [SNAPSHOT]...")
@click.option(
    "--strategy",
    default=grouping.DEFAULT_STRATEGY,
    show_default=True,
    type=click.Choice(list(grouping.STRATEGIES)),
    help="How events are grouped into issues.",
)
@click.option(
    "--compare",
    "compare_with",
    multiple=True,
    type=click.Choice(list(grouping.STRATEGIES)),
    help="Compare --strategy with this one (repeatable): issue counts, splits and merges.",
)
@click.option(
    "--item-type",
    type=click.Choice(["event", "transaction"]),
    default="event",
    show_default=True,
    help="Group error events into issues, or transactions by name and op.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per group.")
@click.option("--limit", type=click.IntRange(min=1), help="Show only the biggest groups.")
@click.pass_obj
def group_command(
    env: Env,
    args: tuple[str, ...],
    strategy: str,
    compare_with: tuple[str, ...],
    item_type: str,
    as_json: bool,
    limit: int | None,
) -> None:
    """Group captured errors into issues the way Sentry does.

    `group show GROUP` lists one group's events (GROUP: its short id or a prefix).

    Example:

        sentry-mirror group --compare type --compare message
    """
    showing = args[:1] == ("show",)
    malformed = Malformed(where="group")
    with _reading(args[2:] if showing else args, malformed) as records:
        if compare_with:
            result = grouping.compare(records, [strategy, *compare_with], malformed=malformed)
        elif item_type == "transaction":
            result = grouping.group_transactions(records, malformed=malformed)
        else:
            result = grouping.group_records(records, strategy, malformed=malformed)
    if compare_with:
        render.comparison(env.console, result)  # type: ignore[arg-type]
        return
    if showing:
        wanted = args[1] if len(args) > 1 else ""
        matches = [g for g in result if g.short_id.startswith(wanted) and wanted]  # type: ignore[union-attr]
        if len(matches) != 1:
            raise MirrorError(
                f"no group {wanted!r}"
                if not matches
                else f"{wanted!r} is ambiguous: {', '.join(g.short_id for g in matches)}"
            )  # type: ignore[union-attr]
        render.group_detail(env.console, matches[0])  # type: ignore[arg-type]
        return
    shown = result[:limit] if limit else result
    if as_json:
        out = sys.stdout.buffer
        for entry in shown:
            out.write(json_text(entry.to_dict()).encode() + b"\n")
        out.flush()
        return
    if item_type == "transaction":
        env.console.print(render.transactions_table(shown))  # type: ignore[arg-type]
    else:
        env.console.print(render.groups_table(shown, env.console.width))  # type: ignore[arg-type]
    env.console.print(f"{len(result)} group(s), {sum(g.count for g in result)} {item_type}(s)", style="dim")


def main() -> None:
    """The console script."""
    cli(prog_name="sentry-mirror")


# Commands that live in their own modules register themselves on `cli` when imported.
from sentry_mirror.ui import replay_cmd as _replay_cmd  # noqa: E402, F401 - registers `replay`
from sentry_mirror.ui import report_cmd as _report_cmd  # noqa: E402, F401 - registers `report` and `diff`
from sentry_mirror.ui import verify_cmd as _verify_cmd  # noqa: E402, F401 - registers `verify`
