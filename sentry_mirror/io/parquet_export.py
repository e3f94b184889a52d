"""``export --format parquet``: the tables of ``sentry-mirror sql`` (docs/sql.md) written by
DuckDB as Parquet files, partitioned by day and project, for Spark, Trino, BigQuery or a
lake (docs/parquet.md)::

    DIR/_manifest.json
    DIR/<table>/day=YYYY-MM-DD/project=<id>/data_<n>.parquet

Partition values come only from sanitised values: ``day`` is a DATE (DuckDB writes it
``YYYY-MM-DD``; no time: ``__HIVE_DEFAULT_PARTITION__``) and ``project`` is the project id
when it is digits, else ``other`` (the views' own ``_sm_project``, applied again here
whatever a table gives), so no directory name is made of what a client sent (DuckDB
percent-escapes a value's ``/`` and ``=`` besides). Everything is written under umask 077
(files 0600, directories 0700) into a staging directory inside DIR, checked, and only then
moved into place, the manifest last: a failed export leaves DIR as it was.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

import sentry_mirror
from sentry_mirror.core import redact
from sentry_mirror.core.sql import identifier, literal
from sentry_mirror.errors import MirrorError
from sentry_mirror.io.export import export_redacted, export_snapshot
from sentry_mirror.io.files import DIR_MODE, FILE_MODE, private_directory, write_new

MANIFEST = "_manifest.json"
SCHEMA = "sentry-mirror-parquet"
#: The partition columns, in their directory order, and their types (readers are told them:
#: a reader guessing from the names would make ``project`` an integer, or fail on ``other``).
PARTITIONS = {"day": "DATE", "project": "VARCHAR"}
_TABLE_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}", re.ASCII)


@dataclass(frozen=True)
class ParquetExported:
    target: Path
    rows: dict[str, int] = field(default_factory=dict)  # per table


def _ignore(_: str) -> None:
    pass


def partitioned_select(
    table: str, columns: Sequence[str], *, joined: str = "requests", nulls: Collection[str] = ()
) -> str:
    """A SELECT of every column of ``table`` with ``day`` and ``project`` last, sanitised:
    the table's own when it has them, else its request's (from ``joined`` by ``request_id``).
    The columns named in ``nulls`` are NULL (VARCHAR)."""
    rest = ", ".join(
        f"CAST(NULL AS VARCHAR) AS {identifier(c)}" if c in nulls else f"t.{identifier(c)}"
        for c in columns
        if c not in PARTITIONS
    )
    if all(c in columns for c in PARTITIONS):
        source, day, project = f"{identifier(table)} AS t", "t.day", "t.project"
    elif "request_id" in columns:
        source = (
            f"{identifier(table)} AS t LEFT JOIN (SELECT id, day, project FROM {identifier(joined)}) AS r "
            "ON t.request_id = r.id"
        )
        day = "t.day" if "day" in columns else "r.day"
        project = "t.project" if "project" in columns else "r.project"
    else:
        raise MirrorError(f"the table {table} has neither day and project nor a request_id to partition it by")
    partitions = f"CAST({day} AS DATE) AS day, _sm_project(CAST({project} AS VARCHAR)) AS project"
    return f"SELECT {rest}{', ' if rest else ''}{partitions} FROM {source}"


def refuse_unless_empty(directory: Path, overwrite: bool) -> None:
    """An existing, non-empty ``directory`` is refused unless ``overwrite``; so is anything
    there that is not a directory."""
    if directory.exists() and not directory.is_dir():
        raise MirrorError(f"{directory} is not a directory: --format parquet writes a directory")
    try:
        entries = next(os.scandir(directory), None) if directory.is_dir() else None
    except OSError as exc:
        raise MirrorError(f"cannot use directory {directory}: {exc.strerror}") from None
    if entries is not None and not overwrite:
        raise MirrorError(
            f"{directory} is not empty: choose another directory, or --overwrite to replace an export there"
        )


@contextmanager
def private_umask() -> Iterator[None]:
    """Umask 077 while DuckDB writes (its files and directories are made 0600/0700)."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


@contextmanager
def temp_snapshot(records: Iterable[Mapping[str, Any]], redactor: redact.Redactor | None = None) -> Iterator[Path]:
    """The ``records`` (redacted with ``redactor``) as a snapshot file (0600) in a new
    temporary directory (0700), removed after, also on errors."""
    with tempfile.TemporaryDirectory(prefix="sentry-mirror-parquet-") as tmp:
        path = Path(tmp) / "selected.jsonl.zst"
        if redactor is None:
            export_snapshot(records, path)
        else:
            export_redacted(records, path, redactor)
        yield path


def write_parquet(
    run: Callable[[str], Any],
    tables: Sequence[str],
    directory: Path,
    *,
    overwrite: bool = False,
    source: Mapping[str, Any] | None = None,
    nulls: Collection[str] = (),
    warn: Callable[[str], None] = _ignore,
) -> ParquetExported:
    """Each of ``tables`` as Parquet under ``directory``, and the manifest (``source`` goes
    in it as is). ``run`` runs one DuckDB statement where the tables are defined (the sql
    session's ``run``): its result relation. Columns named in ``nulls`` are written NULL
    (``file`` when the tables were read from a temporary selection)."""
    refuse_unless_empty(directory, overwrite)
    private_directory(directory, warn=warn)
    staging = Path(tempfile.mkdtemp(prefix=".sentry-mirror-", dir=directory))
    try:
        rows, columns = {}, {}
        with private_umask():
            for table in tables:
                rows[table], columns[table] = _copy(run, table, staging / table, nulls)
        _check_modes(staging, warn)
        manifest = {
            "schema": SCHEMA,
            "version": 1,
            "sentry_mirror": sentry_mirror.__version__,
            "partitioning": {"flavor": "hive", "columns": PARTITIONS},
            "tables": {t: {"rows": rows[t], "columns": columns[t]} for t in tables},
            "source": dict(source or {}),
        }
        write_new(staging / MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
        _move_into_place(staging, directory, tables)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ParquetExported(directory, rows)


def exported_select(
    run: Callable[[str], Any], table: str, nulls: Collection[str] = ()
) -> tuple[str, list[tuple[str, str]]]:
    """The SELECT that exports ``table`` (:func:`partitioned_select`), and the ``(name,
    DuckDB type)`` of each column it gives (day and project last)."""
    names = [row[0] for row in run(f"DESCRIBE {identifier(table)}").fetchall()]
    select = partitioned_select(table, names, nulls=nulls)
    return select, [(row[0], row[1]) for row in run(f"DESCRIBE {select}").fetchall()]


def _copy(
    run: Callable[[str], Any], table: str, target: Path, nulls: Collection[str]
) -> tuple[int, list[dict[str, str]]]:
    """COPY one table to ``target`` (a new directory, made even when there are no rows; a
    statement run again after a file was copied clean starts it over): its row count and
    its columns."""
    select, columns = exported_select(run, table, nulls)
    written = run(
        f"COPY ({select}) TO {literal(str(target))} (FORMAT parquet, PARTITION_BY (day, project), OVERWRITE true)"
    )
    ((count,),) = written.fetchall()
    target.mkdir(mode=DIR_MODE, exist_ok=True)
    return int(count), [{"name": name, "type": kind} for name, kind in columns]


def _check_modes(root: Path, warn: Callable[[str], None]) -> None:
    """Every file 0600 and directory 0700 (umask 077 made them so); a symlink is an error,
    anything else is tightened, saying so."""
    loose = 0
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                raise MirrorError(f"unexpected symlink in the Parquet output: {path}")
            wanted = DIR_MODE if stat.S_ISDIR(info.st_mode) else FILE_MODE
            if stat.S_IMODE(info.st_mode) != wanted:
                path.chmod(wanted)
                loose += 1
    if loose:
        warn(f"{loose} Parquet file(s) or directories were not owner-only: tightened")


def _earlier_tables(directory: Path) -> set[str]:
    """The tables a manifest already in ``directory`` lists (names of our shape only)."""
    try:
        document = orjson.loads((directory / MANIFEST).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return set()
    listed = document.get("tables") if isinstance(document, dict) else None
    if not isinstance(listed, dict):
        return set()
    return {name for name in listed if _TABLE_NAME.fullmatch(name)}


def _remove(path: Path) -> None:
    """``path`` gone: a file or symlink unlinked (never followed), a directory removed."""
    with contextlib.suppress(FileNotFoundError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _move_into_place(staging: Path, directory: Path, tables: Sequence[str]) -> None:
    """The staged tables into ``directory``, replacing the tables and manifest of an earlier
    export there (nothing else in it is touched); the manifest last."""
    try:
        earlier = _earlier_tables(directory)
        _remove(directory / MANIFEST)
        for name in sorted(earlier | set(tables)):
            _remove(directory / name)
        for table in tables:
            (staging / table).rename(directory / table)
        (staging / MANIFEST).rename(directory / MANIFEST)
    except OSError as exc:
        raise MirrorError(f"cannot write the Parquet export into {directory}: {exc.strerror}") from None
