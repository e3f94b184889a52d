"""``export --format parquet -o DIR``: the ``sql`` tables as Parquet (docs/parquet.md).

Without filters or ``--redact``, DuckDB reads the snapshots themselves; with them, the
matching (redacted) records are first written by the snapshot export into a temporary
snapshot (0600, in a 0700 temporary directory, removed after, also on errors) and DuckDB
reads that."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from sentry_mirror.core import redact, sql
from sentry_mirror.core.query import Query
from sentry_mirror.io import duck
from sentry_mirror.io.parquet_export import ParquetExported, refuse_unless_empty, temp_snapshot, write_parquet
from sentry_mirror.io.snapshot import ExpandedPaths
from sentry_mirror.ui.env import Env
from sentry_mirror.ui.filters import query
from sentry_mirror.ui.reading import reading, snapshot_files, warn
from sentry_mirror.ui.safe import text


def parquet_usage(
    output_format: str,
    overwrite: bool,
    output: Path | None,
    envelopes: Path | None,
    redact: bool,
    extra: dict[str, Any],
) -> Path:
    """The directory ``-o`` names, once the options go together (a usage error otherwise)."""
    if output_format != "parquet":
        raise click.UsageError("--overwrite goes with --format parquet")
    if output is None or envelopes is not None or extra["fixtures"] is not None:
        raise click.UsageError("--format parquet writes into a directory: give -o DIR (not --envelopes or --fixtures)")
    if not redact and (extra["redact_key_file"] is not None or extra["pii_rules"] is not None):
        raise click.UsageError("--redact-key-file and --pii-rules go with --redact")
    return output


def export_parquet(
    env: Env,
    snapshots: tuple[str, ...],
    directory: Path,
    *,
    overwrite: bool,
    filters: dict[str, Any],
    redactor: redact.Redactor | None,
) -> None:
    """Write the tables of the matching records into ``directory`` and say what was written
    (DuckDB writes with one thread: the files are the same at every ``--jobs``)."""
    duck.load_duckdb()  # before reading anything: a clear error when DuckDB is missing
    refuse_unless_empty(directory, overwrite, sql.VIEW_NAMES)
    files = snapshot_files(snapshots)
    selected = query(filters)
    source: dict[str, Any] = {
        "files": [str(path) for path in files],
        "filtered": selected != Query(),
        "redacted": {"engine": redactor.engine, "key_id": redactor.key_id} if redactor is not None else None,
    }
    if selected == Query() and redactor is None:
        done = _write(files, directory, overwrite, source)
    else:  # the tables' file column would name the temporary selection: left NULL
        with (
            reading(files, answers=True) as records,
            temp_snapshot(selected.with_answers(records), redactor) as path,
        ):
            done = _write(ExpandedPaths([path]), directory, overwrite, source, nulls=("file",))
    counts = ", ".join(f"{table} {rows}" for table, rows in done.rows.items())
    env.console.print(text(f"{len(done.rows)} table(s) written as Parquet to {done.target} (rows: {counts})"))


def _write(
    files: ExpandedPaths,
    directory: Path,
    overwrite: bool,
    source: dict[str, Any],
    nulls: tuple[str, ...] = (),
) -> ParquetExported:
    # nothing read before write_parquet's settings: the items are parsed within its memory limit
    with duck.connect(files, on_warning=warn) as session:
        return write_parquet(
            session.run, sql.VIEW_NAMES, directory, overwrite=overwrite, source=source, nulls=nulls, warn=warn
        )
