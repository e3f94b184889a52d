"""Results of ``sentry-mirror sql``: a Rich table, JSON or CSV, streamed in batches.

Every value shown in the terminal goes through :func:`sentry_mirror.ui.safe.text` (control
characters escaped, never read as markup). JSON output is one array of objects: times in
ISO 8601, ``JSON`` columns nested as JSON (integers beyond 64 bits exact), other nested
values (lists, structs) as JSON too; CSV writes times in ISO 8601 and nested values as
JSON text.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

from rich.console import Console
from rich.table import Column, Table

from sentry_mirror.core.lenient import loads_or_none
from sentry_mirror.io import duck
from sentry_mirror.ui.env import Env
from sentry_mirror.ui.safe import json_text, text

#: Rows fetched from DuckDB at a time.
BATCH = 2048
#: Rows shown in a table unless ``--max-rows`` says otherwise (0: all).
MAX_ROWS = 1000
FORMATS = ("table", "json", "csv")


class Result:
    """A statement's result: column names and types, and its rows in batches."""

    def __init__(self, names: Sequence[str], types: Sequence[str], batches: Iterator[list[tuple[Any, ...]]]) -> None:
        self.names = list(names)
        self.types = list(types)
        self.batches = batches

    def rows(self) -> Iterator[tuple[Any, ...]]:
        for batch in self.batches:
            yield from batch


def plain(value: Any) -> Any:
    """``value`` as JSON can hold it: times in ISO 8601 (``…Z`` in UTC), decimals as
    numbers, bytes as base64, intervals in seconds, lists and structs element by element."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None and value.utcoffset() == dt.timedelta(0):
            return value.replace(tzinfo=None).isoformat() + "Z"
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def _converter(kind: str) -> Callable[[Any], Any]:
    return loads_or_none if kind == "JSON" else plain


def cell(value: Any, kind: str) -> str:
    """A value as one line of text (CSV, a table cell): JSON columns as they are, nested
    values as JSON, times in ISO 8601; NULL as the empty string."""
    if value is None:
        return ""
    if kind == "JSON" or isinstance(value, str):
        return str(value)
    converted = plain(value)
    if isinstance(converted, (dict, list)):
        return json_text(converted)
    if isinstance(converted, bool):
        return "true" if converted else "false"
    return str(converted)


def write_json(result: Result, out: IO[str]) -> None:
    """A JSON array of objects, one per row, written as the rows come."""
    convert = [_converter(kind) for kind in result.types]
    out.write("[")
    first = True
    for row in result.rows():
        entry = {name: fn(value) for name, fn, value in zip(result.names, convert, row, strict=True)}
        out.write(("\n" if first else ",\n") + json_text(entry))
        first = False
    out.write("\n]\n" if not first else "]\n")


def write_csv(result: Result, out: IO[str]) -> None:
    """CSV with a header line, written as the rows come."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(result.names)
    for row in result.rows():
        writer.writerow([cell(value, kind) for value, kind in zip(row, result.types, strict=True)])


def write_table(result: Result, console: Console, max_rows: int) -> None:
    """A Rich table of the first ``max_rows`` rows (0: all), and how many more there were."""
    table = Table(*(Column(header=text(name)) for name in result.names), header_style="bold")
    shown = more = 0
    for row in result.rows():
        if max_rows and shown >= max_rows:
            more += 1
            continue
        table.add_row(*(text(cell(value, kind)) for value, kind in zip(row, result.types, strict=True)))
        shown += 1
    console.print(table)
    rows = f"{shown + more} row{'s' if shown + more != 1 else ''}"
    note = f", {more} not shown (--max-rows 0 shows all)" if more else ""
    console.print(text(rows + note, style="dim"))


def split(session: duck.Session, text: str) -> list[str]:
    """The statements of ``text`` (DuckDB's own splitting: a ``;`` in a string stays)."""
    try:
        return [statement.query for statement in session.con.extract_statements(text)]
    except Exception as exc:  # a parser error
        raise duck.QueryError(str(exc)) from None


def result_of(cursor: Any) -> Result | None:
    """The result pending on ``cursor`` (None when the statement gave no columns)."""
    description = cursor.description
    if not description:
        return None
    names = [str(column[0]) for column in description]
    types = [str(column[1]) for column in description]
    return Result(names, types, _batches(cursor))


def _batches(cursor: Any) -> Iterator[list[tuple[Any, ...]]]:
    errors = duck.load_duckdb().Error
    while True:
        try:
            with duck.interruptible():
                batch = cursor.fetchmany(BATCH)
        except errors as exc:
            raise duck.QueryError(str(exc)) from None
        if not batch:
            return
        yield batch


def emit(cursor: Any, env: Env, fmt: str, max_rows: int, out: IO[str]) -> None:
    """Write the result pending on ``cursor`` as ``fmt``."""
    result = result_of(cursor)
    if result is None:
        return
    if fmt == "json":
        write_json(result, out)
    elif fmt == "csv":
        write_csv(result, out)
    else:
        write_table(result, env.console, max_rows)
