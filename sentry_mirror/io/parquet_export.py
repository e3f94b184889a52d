"""``export --format parquet``: the tables of ``sentry-mirror sql`` (docs/sql.md) written by
DuckDB as Parquet files, partitioned by day and project, for Spark, Trino, BigQuery or a
lake (docs/parquet.md)::

    DIR/_manifest.json
    DIR/<table>/day=YYYY-MM-DD/project=<id>/data_<n>.parquet

Partition values come only from sanitised values: ``day`` is a DATE of the years 1-9999
(DuckDB writes it ``YYYY-MM-DD``; no time, or one before or after those or infinite:
``__HIVE_DEFAULT_PARTITION__``) and ``project`` is the project id
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
from sentry_mirror.core import redact, sql
from sentry_mirror.core.sql import identifier, literal
from sentry_mirror.errors import MirrorError
from sentry_mirror.io.decoder import ignore
from sentry_mirror.io.export import export_redacted, export_snapshot
from sentry_mirror.io.files import DIR_MODE, FILE_MODE, private_directory, temp_directory, write_new

MANIFEST = "_manifest.json"
SCHEMA = "sentry-mirror-parquet"
#: The partition columns, in their directory order, and their types (readers are told them:
#: a reader guessing from the names would make ``project`` an integer, or fail on ``other``).
PARTITIONS = {"day": "DATE", "project": "VARCHAR"}
#: Set on the connection before the COPYs. One thread: DuckDB's partitioned COPY writes rows
#: in the order its threads finish, so with several the files differ from run to run. A
#: memory limit (docs/parquet.md): beyond it DuckDB spills to
#: its temporary directory (the session's, private) rather than growing with the capture.
SETTINGS = ("SET threads = 1", "SET memory_limit = '512MB'")
_PARTITION = re.compile(r"(day|project)=[^/]*", re.ASCII)


@dataclass(frozen=True)
class ParquetExported:
    target: Path
    rows: dict[str, int] = field(default_factory=dict)  # per table


def partitioned_select(
    table: str, columns: Sequence[str], *, joined: str = "requests", nulls: Collection[str] = ()
) -> str:
    """A SELECT of every column of ``table`` with ``day`` and ``project`` last, sanitised:
    the table's own when it has them, else its request's (from ``joined`` by ``request_id``:
    one row per id, so a request read twice, a capture given twice, multiplies no row; the
    earliest day and lowest project of its rows).
    The columns named in ``nulls`` are NULL (VARCHAR)."""
    rest = ", ".join(
        f"CAST(NULL AS VARCHAR) AS {identifier(c)}" if c in nulls else f"t.{identifier(c)}"
        for c in columns
        if c not in PARTITIONS
    )
    if all(c in columns for c in PARTITIONS):
        source, day, project = f"{identifier(table)} AS t", "t.day", "t.project"
    elif "request_id" in columns:
        lookup = f"SELECT id, min(day) AS day, min(project) AS project FROM {identifier(joined)} GROUP BY id"
        source = f"{identifier(table)} AS t LEFT JOIN ({lookup}) AS r ON t.request_id = r.id"
        day = "t.day" if "day" in columns else "r.day"
        project = "t.project" if "project" in columns else "r.project"
    else:
        raise MirrorError(f"the table {table} has neither day and project nor a request_id to partition it by")
    date = f"TRY_CAST({day} AS DATE)"
    sane = (
        f"CASE WHEN isfinite({date}) AND year({date}) BETWEEN 1 AND 9999 THEN {date} END"  # else the default partition
    )
    partitions = f"{sane} AS day, _sm_project(CAST({project} AS VARCHAR)) AS project"
    return f"SELECT {rest}{', ' if rest else ''}{partitions} FROM {source}"


def refuse_unless_empty(directory: Path, overwrite: bool, tables: Collection[str] = ()) -> None:
    """An existing, non-empty ``directory`` is refused unless ``overwrite`` and what it holds
    with a table's name is an earlier export's (:func:`earlier_export`); so is anything
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
    if entries is not None:
        earlier_export(directory, tables)


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
    with temp_directory("sentry-mirror-parquet-") as tmp:
        path = tmp / "selected.jsonl.zst"
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
    warn: Callable[[str], None] = ignore,
) -> ParquetExported:
    """Each of ``tables`` as Parquet under ``directory``, and the manifest (``source`` goes
    in it as is). ``run`` runs one DuckDB statement where the tables are defined (the sql
    session's ``run``): its result relation; :data:`SETTINGS` are run first, so the files
    are the same whatever threads the connection had. Columns named in ``nulls`` are written NULL
    (``file`` when the tables were read from a temporary selection)."""
    refuse_unless_empty(directory, overwrite, tables)
    private_directory(directory, warn=warn)
    for setting in SETTINGS:
        run(setting)
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


def earlier_export(directory: Path, tables: Collection[str]) -> set[str]:
    """The entries of an earlier export in ``directory`` that ``--overwrite`` replaces: its
    manifest and the tables it lists. The manifest must be ours (:data:`SCHEMA`, version 1,
    table names among ``tables`` and :data:`sql.VIEW_NAMES`), each listed table a real
    directory of hive partition directories and ``.parquet`` files only (or a symlink,
    unlinked, never followed), and nothing else in ``directory`` may have a table's name:
    else refused, naming the path, and nothing is removed."""
    known = set(tables) | set(sql.VIEW_NAMES)
    listed = _our_manifest(directory, known) or set()
    for name in sorted(known | listed):
        path = directory / name
        if not os.path.lexists(path):
            continue
        if name not in listed:
            raise MirrorError(f"{path} is not part of a sentry-mirror Parquet export: not replacing it")
        _refuse_unless_ours(path)
    return {name for name in listed if os.path.lexists(directory / name)} | (
        {MANIFEST} if os.path.lexists(directory / MANIFEST) else set()
    )


def _our_manifest(directory: Path, tables: Collection[str]) -> set[str] | None:
    """The tables our manifest in ``directory`` lists; None without one; refused when the
    file there is not one of ours."""
    path = directory / MANIFEST
    if not os.path.lexists(path):
        return None
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            raise ValueError
        document = orjson.loads(path.read_bytes())
        listed = document["tables"]
        if document["schema"] != SCHEMA or type(document["version"]) is not int or document["version"] != 1:
            raise ValueError
        if not isinstance(listed, dict):
            raise ValueError
        if not set(listed) <= set(tables):
            raise ValueError
    except (OSError, ValueError, TypeError, KeyError):
        raise MirrorError(f"{path} is not the manifest of a sentry-mirror Parquet export: not replacing") from None
    return set(listed)


def _refuse_unless_ours(table: Path) -> None:
    """``table`` is a symlink (unlinked later, never followed) or a directory of hive
    partition directories (``key=value``) and ``.parquet`` files only: else refused."""
    if table.is_symlink():
        return
    for folder, dirs, files in os.walk(table, followlinks=False):
        odd = [d for d in dirs if _PARTITION.fullmatch(d) is None or Path(folder, d).is_symlink()]
        odd += [f for f in files if not f.endswith(".parquet") or not Path(folder, f).is_file()]
        if odd or not Path(folder).is_dir():
            what = Path(folder, odd[0]) if odd else Path(folder)
            raise MirrorError(f"{what} was not written by a sentry-mirror Parquet export: not replacing {table}")


def _remove(path: Path) -> None:
    """``path`` gone: a file or symlink unlinked (never followed), a directory removed."""
    with contextlib.suppress(FileNotFoundError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _move_into_place(staging: Path, directory: Path, tables: Sequence[str]) -> None:
    """The staged tables into ``directory``, replacing an earlier export there (checked
    again: :func:`earlier_export`; nothing else in it is touched); the manifest last. The
    earlier entries are first moved aside into ``staging`` (removed with it), and moved
    back if moving the new ones in fails: ``directory`` never holds neither export."""
    earlier = sorted(earlier_export(directory, tables), key=lambda name: name != MANIFEST)  # the manifest first
    aside = staging / ".earlier"
    aside.mkdir(mode=DIR_MODE)
    moved_aside: list[str] = []
    moved_in: list[str] = []
    try:
        for name in earlier:
            (directory / name).rename(aside / name)
            moved_aside.append(name)
        for name in [*tables, MANIFEST]:
            (staging / name).rename(directory / name)
            moved_in.append(name)
    except OSError as exc:
        for name in moved_in:
            _remove(directory / name)
        for name in moved_aside:
            with contextlib.suppress(OSError):
                (aside / name).rename(directory / name)
        raise MirrorError(f"cannot write the Parquet export into {directory}: {exc.strerror}") from None
