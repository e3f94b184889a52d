"""SQL macros the views share: reading JSON values the way the Python readers do.

Each takes a ``JSON`` value (or text) and gives NULL for anything of the wrong kind, so a
record whatever its shape never fails a query: a string field that holds a number is
NULL in :func:`_sm_str`, a timestamp out of range NULL in :func:`_sm_time`.
"""

from __future__ import annotations

from sentry_mirror.core.envelope import TYPE_ALIASES, UUID_PATTERN
from sentry_mirror.core.sql.quote import literal

_ALIASES = " ".join(f"WHEN {literal(sent)} THEN {literal(counted)}" for sent, counted in sorted(TYPE_ALIASES.items()))

#: ``(name, parameters, body)``, defined in this order (a macro may use the ones before it).
MACROS: tuple[tuple[str, str, str], ...] = (
    # a JSON string's text; NULL for any other JSON value
    ("_sm_str", "j", "CASE WHEN json_type(j) = 'VARCHAR' THEN json_extract_string(j, '$') END"),
    # a JSON scalar (string, number, boolean) as text
    (
        "_sm_scalar",
        "j",
        "CASE WHEN json_type(j) IN ('VARCHAR', 'BIGINT', 'UBIGINT', 'DOUBLE', 'HUGEINT', 'BOOLEAN') "
        "THEN json_extract_string(j, '$') END",
    ),
    # a JSON integer
    (
        "_sm_int",
        "j",
        "CASE WHEN json_type(j) IN ('BIGINT', 'UBIGINT') THEN TRY_CAST(json_extract_string(j, '$') AS BIGINT) END",
    ),
    # a JSON boolean
    ("_sm_bool", "j", "CASE WHEN json_type(j) = 'BOOLEAN' THEN json_extract_string(j, '$') = 'true' END"),
    # seconds since the epoch: a JSON number, or an RFC 3339 string
    (
        "_sm_seconds",
        "j",
        "CASE WHEN json_type(j) IN ('BIGINT', 'UBIGINT', 'DOUBLE', 'HUGEINT') "
        "THEN TRY_CAST(json_extract_string(j, '$') AS DOUBLE) "
        "WHEN json_type(j) = 'VARCHAR' THEN epoch(TRY_CAST(json_extract_string(j, '$') AS TIMESTAMPTZ)) END",
    ),
    ("_sm_time", "j", "try(to_timestamp(_sm_seconds(j)))"),
    # the values of a list, or of an object's "values" list (exceptions, threads, breadcrumbs), objects only
    (
        "_sm_values",
        "j",
        "list_filter(coalesce(CASE json_type(j) WHEN 'ARRAY' THEN json_extract(j, '$[*]') "
        "WHEN 'OBJECT' THEN json_extract(j, '$.values[*]') END, []::JSON[]), lambda x: json_type(x) = 'OBJECT')",
    ),
    # a JSON array's elements that are objects
    (
        "_sm_objects",
        "j",
        "list_filter(coalesce(CASE WHEN json_type(j) = 'ARRAY' THEN json_extract(j, '$[*]') END, []::JSON[]), "
        "lambda x: json_type(x) = 'OBJECT')",
    ),
    # a UUID as 32 lower-case hex digits (core.envelope.normalize_uuid)
    ("_sm_uuid", "s", f"CASE WHEN regexp_full_match(s, {literal(UUID_PATTERN)}) THEN lower(replace(s, '-', '')) END"),
    # the project as a partition value: its digits, else 'other'
    ("_sm_project", "p", "CASE WHEN regexp_full_match(p, '[0-9]{1,20}') THEN p ELSE 'other' END"),
    # an item type as counted (core.envelope.canonical_type)
    ("_sm_type", "t", f"CASE t {_ALIASES} ELSE t END"),
    # the items the listener's envelope parser found in a record's body (its summary); NULL
    # when the summary lists only the first of them (or names items_total anywhere)
    (
        "_sm_items",
        "summary",
        "CASE WHEN contains(summary::VARCHAR, '\"items_total\"') THEN NULL "
        "ELSE json_array_length(summary, '$.items')::BIGINT END",
    ),
    # Whether an item's header line ``h`` is a JSON object read alike by DuckDB and orjson
    # (no key twice, no \u escape) and its ``length``, if any, is the size of the line ``p``
    (
        "_sm_item_line",
        "h, p",
        "CASE WHEN starts_with(h, '{') AND json_valid(h) AND NOT contains(h, '\\u') "
        "AND strpos(substr(h, strpos(h, '\"type\"') + 6), '\"type\"') = 0 THEN "
        "CASE WHEN NOT contains(h, '\"length\"') THEN true "
        "WHEN strpos(substr(h, strpos(h, '\"length\"') + 8), '\"length\"') = 0 "
        "AND json_type(h, '$.length') IN ('BIGINT', 'UBIGINT') "
        "THEN TRY_CAST(json_extract_string(h, '$.length') AS BIGINT) = strlen(p) ELSE false END ELSE false END",
    ),
    # Whether SQL splits an envelope body (text; ``lines`` split at its newlines, ``n`` its
    # _sm_items) exactly as core.envelope does: the listener's parser found n >= 1 items in
    # it and it has 2n + 1 lines (2n + 2 with a last empty one), so every item is one
    # header line and one payload line; each header line is a JSON object whose ``length``,
    # when it names one, is its payload line's size in bytes (a payload spanning lines, as
    # @sentry/node writes an attachment with newlines and no newline after the last payload,
    # would pair the wrong lines); no line is blank (core.envelope skips blank lines before
    # a header, which would shift the lines); no header names its type or length twice
    # (DuckDB's JSON reads the first, orjson the last) or holds a \u escape (a key spelt
    # with one); no \uD8xx-\uDFxx escape (a lone surrogate DuckDB's JSON refuses, Python's
    # reads). The rest is left to Python.
    (
        "_sm_splits",
        "lines, n, body",
        "coalesce(n >= 1 AND len(lines) IN (2 * n + 1, 2 * n + 2) AND (len(lines) = 2 * n + 1 OR lines[-1] = '') "
        "AND NOT regexp_matches(body, '\\n[ \\t\\r]*\\n') "
        "AND NOT (contains(body, '\\ud') OR contains(body, '\\uD')) "
        "AND list_bool_and(list_transform(range(n), lambda i: _sm_item_line(lines[2 * i + 2], lines[2 * i + 3]))), "
        "false)",
    ),
)


def statements() -> list[str]:
    """The ``CREATE MACRO`` statements, in order."""
    return [f"CREATE OR REPLACE MACRO {name}({params}) AS {body}" for name, params, body in MACROS]
