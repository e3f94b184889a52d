"""An in-memory DuckDB with the sql views over snapshots (``sentry-mirror sql``, the
Parquet export).

:func:`connect` opens it (a context manager: temporary copies are removed on the way
out, errors included) and defines every view of :mod:`sentry_mirror.core.sql` over the
files; :meth:`Session.run` runs a statement, preparing first only what the statement
reads: the items SQL cannot split exactly are parsed by the project's own Python readers
(:mod:`sentry_mirror.core.sql.pyitems`) into a table, fetched from DuckDB in bounded
batches, the first time a statement reads a view built on items, and again before a later
one when a file DuckDB reads as it is has changed (a snapshot still being written).

Files DuckDB reads as they are are read by DuckDB's own ``read_json`` (streaming, in
parallel); a file cut short or damaged is read by our tolerant reader into a clean copy
(:mod:`sentry_mirror.io.duck_files`), with the warnings every reader gives. A damaged
frame found only while a query runs (zstd's checksum fails in DuckDB) makes the session
find the file, copy it clean, and run the statement again.

Extensions are never installed or loaded behind the user's back: no network.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentry_mirror.core import sql
from sentry_mirror.core.sql import pyitems
from sentry_mirror.errors import ExitCode, MirrorError
from sentry_mirror.io.decoder import Warn, ignore
from sentry_mirror.io.duck_files import CleanCopies, whole_frames
from sentry_mirror.io.snapshot import ExpandedPaths, expand

if TYPE_CHECKING:
    import duckdb

#: Source records fetched from DuckDB per batch when the Python-parsed items are made.
BATCH = 256
#: What DuckDB's IO errors say when a zstd stream fails (they name no file).
_ZSTD_FAILURE = re.compile(r"checksum|zstd|decompress|frame|corrupt", re.IGNORECASE)
INSTALL_HINT = "sentry-mirror sql needs DuckDB: pip install 'sentry-mirror[sql]'"


class QueryError(MirrorError):
    """A statement DuckDB refused: its own message (a usage error)."""

    exit_code = ExitCode.USAGE


def load_duckdb() -> Any:
    """The duckdb module; a MirrorError naming the extra when it is not installed."""
    try:
        import duckdb
    except ImportError:
        raise MirrorError(INSTALL_HINT) from None
    return duckdb


class Session:
    """One DuckDB connection with the views defined (``con``), over ``files``."""

    def __init__(self, con: duckdb.DuckDBPyConnection, files: ExpandedPaths, on_warning: Warn) -> None:
        self.con = con
        self._files = files
        self._warn = on_warning
        self._copies = CleanCopies()
        self._sources: dict[Path, Path | None] = {}  # a file -> the path DuckDB reads (None: nothing to read)
        self._items_ready = False
        self._filled: dict[Path, tuple[int, int]] = {}  # the files read as they are when the items were made
        self._max_object_size = sql.source.MAX_OBJECT_SIZE
        # what DuckDB spills to disk (a query bigger than its memory) stays private and goes too
        spill = self._copies.directory() / "spill"
        con.execute(f"SET temp_directory = {sql.literal(str(spill))}")

    def define(self) -> None:
        """(Re)define the macros, the raw view and every view over the files; the items
        parsed in Python are made again when next needed (the files may have changed)."""
        for path in self._files:
            if path not in self._sources:
                self._sources[path] = path if whole_frames(path) else self._copies.copy(path, self._warn)
        pairs = [(str(source), str(path)) for path, source in self._sources.items() if source is not None]
        self.con.execute(sql.py_items_table())
        self._items_ready = False
        for statement in [*sql.macro_statements(), sql.raw_view(pairs, self._max_object_size), *sql.view_statements()]:
            self.con.execute(statement)

    def prepare(self, names: Iterable[str]) -> None:
        """Make ready what the views ``names`` read: the items parsed in Python, once."""
        self._retrying(lambda: self._prepare(set(names)))

    def run(self, statement: str) -> duckdb.DuckDBPyConnection:
        """Run one statement, after preparing what it reads; the connection with its result
        pending (``description``, ``fetchmany``; a statement without rows gives its count,
        as DuckDB does). A statement DuckDB refuses is a :class:`QueryError` with DuckDB's
        message."""
        result: duckdb.DuckDBPyConnection = self._retrying(lambda: self._run(statement))
        return result

    def _run(self, statement: str) -> duckdb.DuckDBPyConnection:
        try:
            names = self.con.get_table_names(statement)
        except Exception:  # not one statement, or one DuckDB cannot bind alone: prepare all
            names = set(sql.VIEW_NAMES)
        self._prepare(names)
        return self.con.execute(statement)

    def _prepare(self, names: set[str]) -> None:
        """Make the items parsed in Python when a view in ``names`` needs them and they are
        not made yet, or a file DuckDB reads as it is changed since (a file still being
        written): every view of a statement then reads the same records."""
        if not sql.NEEDS_ITEMS & names:
            return
        stamps = self._stamps()
        if self._items_ready and stamps == self._filled:
            return
        self._fill_items()
        self._filled = stamps
        self._items_ready = True

    def _stamps(self) -> dict[Path, tuple[int, int]]:
        """``(size, mtime_ns)`` of every file DuckDB reads as it is."""
        stamps = {}
        for path, source in self._sources.items():
            if source == path:
                try:
                    stat = path.stat()
                except OSError:
                    stamps[path] = (-1, -1)
                else:
                    stamps[path] = (stat.st_size, stat.st_mtime_ns)
        return stamps

    def columns(self) -> dict[str, list[tuple[str, str]]]:
        """The ``(column, type)`` pairs, in order, of every view and table a user sees (the
        public views, tables made in the session; not the ``_sm_`` helpers), by name."""
        found: dict[str, list[tuple[str, str]]] = {}
        rows = self.con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'main' AND table_name NOT LIKE '\\_sm\\_%' ESCAPE '\\' "
            "ORDER BY table_name, ordinal_position"
        ).fetchall()
        for table, column, kind in rows:
            found.setdefault(table, []).append((column, kind))
        return found

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            self._copies.close()

    def _fill_items(self) -> None:
        self.con.execute(f"DELETE FROM {sql.PY_ITEMS}")
        reader = self.con.cursor()
        try:
            reader.execute(sql.PY_ITEM_SOURCES)
            marks = ", ".join("?" for _ in sql.PY_ITEM_COLUMNS)
            while batch := reader.fetchmany(BATCH):
                rows = [row for source in batch for row in pyitems.rows(source)]
                if rows:
                    self.con.executemany(f"INSERT INTO {sql.PY_ITEMS} VALUES ({marks})", rows)
        finally:
            reader.close()

    def _retrying(self, work: Any) -> Any:
        """``work()``; when DuckDB fails to read a file, copy the files it cannot read clean
        and try again (once per file found). Other DuckDB errors (a statement's own, such as
        a JSON function given bad text) are QueryErrors, no file read for them."""
        duckdb = load_duckdb()
        while True:
            try:
                with interruptible():
                    return work()
            except (duckdb.IOException, duckdb.InvalidInputException) as exc:
                message = str(exc)
                suspects = self._suspects(message, isinstance(exc, duckdb.IOException))
                if not (self._longer_lines(message) or self._copy_unreadable(suspects)):
                    raise QueryError(message) from None
            except duckdb.Error as exc:
                raise QueryError(str(exc)) from None
            except UnicodeDecodeError:  # DuckDB's message quotes a line cut inside a character
                if not self._copy_unreadable(self._suspects("", io_error=True, unnamed=True)):
                    raise QueryError("DuckDB failed with a message that is not UTF-8") from None

    def _suspects(self, message: str, io_error: bool, unnamed: bool = False) -> list[Path]:
        """The files (read as they are) a DuckDB error may come from: those its message
        names (read_json names the file of a line it cannot parse); every one for a zstd
        failure (an IO error naming no file, such as a checksum that does not match) or
        a message that cannot be read (``unnamed``); none for any other error, which is the
        statement's own."""
        originals = [path for path, source in self._sources.items() if source == path]
        named = [path for path in originals if str(path) in message]
        if named:
            return named
        return originals if unnamed or (io_error and _ZSTD_FAILURE.search(message)) else []

    def _longer_lines(self, message: str) -> bool:
        """A line longer than DuckDB's JSON buffers: read again with bigger ones (if any)."""
        if '"maximum_object_size"' not in message:
            return False
        bigger = [size for size in sql.source.MAX_OBJECT_SIZES if size > self._max_object_size]
        if not bigger:
            return False
        self._max_object_size = bigger[0]
        self.define()
        return True

    def _copy_unreadable(self, suspects: list[Path]) -> bool:
        """Find which of ``suspects`` DuckDB fails to read, replace them by clean copies and
        redefine the views; whether any was found."""
        found = False
        for path in suspects:
            try:
                # every column, so a value of the wrong type fails here too
                probe = sql.source.read_json([str(path)], self._max_object_size)
                self.con.execute(f"SELECT count(COLUMNS(*)) FROM {probe}").fetchall()
            except Exception:
                self._sources[path] = self._copies.copy(path, self._warn)
                found = True
        if found:
            self.define()
        return found


@contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl-C during a query: DuckDB stops it and raises ``InterruptException`` (or a bare
    ``RuntimeError: Query interrupted`` from ``execute``); both become KeyboardInterrupt."""
    duckdb = load_duckdb()
    try:
        yield
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None
    except RuntimeError as exc:
        if "interrupted" in str(exc).lower() and not isinstance(exc, duckdb.Error):
            raise KeyboardInterrupt from None
        raise


def open_connection(threads: int) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB: ``threads`` threads, no extension installed or loaded
    automatically, times in UTC."""
    module = load_duckdb()
    con: duckdb.DuckDBPyConnection = module.connect(
        ":memory:",
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "threads": max(1, threads),
        },
    )
    con.execute("SET GLOBAL TimeZone = 'UTC'")  # every cursor of it too
    return con


@contextmanager
def connect(
    paths: Iterable[str | os.PathLike[str]] = ("snapshots",),
    *,
    threads: int = 1,
    needs: Iterable[str] = (),
    on_warning: Warn = ignore,
) -> Iterator[Session]:
    """A :class:`Session` with every view of :mod:`sentry_mirror.core.sql` defined over
    the snapshots under ``paths``, and the views ``needs`` prepared (:meth:`Session.prepare`;
    :meth:`Session.run` prepares what a statement reads by itself). Closed on the way out,
    temporary copies removed."""
    files = paths if isinstance(paths, ExpandedPaths) else expand(paths)
    session = Session(open_connection(threads), files, on_warning)
    try:
        session._retrying(session.define)
        session.prepare(needs)
        yield session
    finally:
        session.close()
