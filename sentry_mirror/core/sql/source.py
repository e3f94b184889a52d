"""The raw rows: snapshot lines as DuckDB's ``read_json`` reads them, with fixed column types.

Every line of a snapshot (request and answer records alike) is one row. The types are given,
not inferred (inference differs from file to file and fails on odd records): scalars the
writer always writes as such are typed, every structured field is ``JSON``, so whatever a
client made a record hold never fails a query.
"""

from __future__ import annotations

from collections.abc import Sequence

from sentry_mirror.core.sql.quote import glob_escaped, identifier, literal, literal_list

#: The columns of a line, for ``read_json``: the request record's fields
#: (core/record.py) and the answer record's (core/answer.py), in that order.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("v", "BIGINT"),
    ("kind", "VARCHAR"),
    ("id", "VARCHAR"),
    ("received_at", "VARCHAR"),
    ("remote_addr", "VARCHAR"),
    ("method", "VARCHAR"),
    ("path", "VARCHAR"),
    ("query", "VARCHAR"),
    ("headers", "JSON"),
    ("endpoint", "VARCHAR"),
    ("project_id", "VARCHAR"),
    ("auth", "JSON"),
    ("content_encoding", "VARCHAR"),
    ("wire_size", "BIGINT"),
    ("body_size", "BIGINT"),
    ("body", "VARCHAR"),
    ("body_base64", "BOOLEAN"),
    ("body_decoded", "BOOLEAN"),
    ("body_truncated", "BOOLEAN"),
    ("body_encoded", "BOOLEAN"),
    ("body_omitted", "VARCHAR"),
    ("summary", "JSON"),
    ("error", "VARCHAR"),
    ("notes", "JSON"),
    ("response", "JSON"),
    ("scripted", "JSON"),
    ("api", "JSON"),
    ("upload", "JSON"),
    ("redacted", "JSON"),
    ("forwarded_to", "VARCHAR"),
    ("mirror", "JSON"),
    # answer records
    ("request_id", "VARCHAR"),
    ("target", "VARCHAR"),
    ("to", "VARCHAR"),
    ("via", "VARCHAR"),
    ("item_types", "JSON"),
    ("status", "BIGINT"),
    ("latency_ms", "DOUBLE"),
    ("delivered", "BOOLEAN"),
    ("returned", "BOOLEAN"),
    ("dropped", "BOOLEAN"),
)

#: The name of the raw view every other view reads.
RAW = "_sm_raw"
#: DuckDB's JSON reader holds buffers of this size per file read: the smallest it takes
#: (a bigger one costs its size in memory whether lines need it or not); a file with a
#: longer line is read again with a bigger one (:data:`MAX_OBJECT_SIZES`).
MAX_OBJECT_SIZE = 16 << 20
MAX_OBJECT_SIZES = (MAX_OBJECT_SIZE, 256 << 20, (2 << 30) - 1)


def read_json(files: Sequence[str], max_object_size: int = MAX_OBJECT_SIZE) -> str:
    """The ``read_json`` call over ``files`` (paths, read as named: no globbing), with the
    ``file`` each line came from; lines up to ``max_object_size`` bytes."""
    columns = "{" + ", ".join(f"{literal(name)}: {literal(kind)}" for name, kind in COLUMNS) + "}"
    paths = literal_list(glob_escaped(path) for path in files)
    return (
        f"read_json({paths}, format = 'newline_delimited', compression = 'zstd', columns = {columns}, "
        f"filename = 'file', maximum_object_size = {int(max_object_size)})"
    )


def raw_view(files: Sequence[tuple[str, str]], max_object_size: int = MAX_OBJECT_SIZE) -> str:
    """The statement that (re)defines :data:`RAW` over ``files``, pairs of the path DuckDB
    reads and the name the ``file`` column shows (a clean copy of a damaged file shows the
    original's name); none: an empty view."""
    if not files:
        columns = ", ".join(f"NULL::{kind} AS {identifier(name)}" for name, kind in COLUMNS)
        return f"CREATE OR REPLACE VIEW {RAW} AS SELECT {columns}, NULL::VARCHAR AS file WHERE false"
    source = read_json([path for path, _ in files], max_object_size)
    select = f"SELECT * FROM {source}"
    renamed = [(path, shown) for path, shown in files if path != shown]
    if renamed:
        cases = " ".join(f"WHEN {literal(path)} THEN {literal(shown)}" for path, shown in renamed)
        select = f"SELECT * REPLACE (CASE file {cases} ELSE file END AS file) FROM {source}"
    return f"CREATE OR REPLACE VIEW {RAW} AS {select}"
