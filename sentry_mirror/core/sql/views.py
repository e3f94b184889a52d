"""The views over the raw rows (:mod:`.source`): requests, answers, items and events.

``items`` is one row per envelope item. Envelopes are split here, in SQL, where that is
exact: the body is text and every item is a JSON object header line followed by one payload
line whose ``length`` (when given) is its size in bytes (``_sm_splits`` and
``_sm_item_line`` in :mod:`.macros`).
Every other body that carries items (base64 or kept-encoded bodies, payloads with
newlines, store and multipart uploads) is parsed by the project's own Python readers into
the table :data:`PY_ITEMS` (:mod:`.pyitems`), which the view adds in.
"""

from __future__ import annotations

from sentry_mirror.core.grouping.groups import LEVEL_ALIASES
from sentry_mirror.core.sql.quote import literal
from sentry_mirror.core.sql.source import RAW

#: The table of items parsed in Python, and its columns.
PY_ITEMS = "_sm_py_items"
PY_ITEM_COLUMNS: tuple[tuple[str, str], ...] = (
    ("request_id", "VARCHAR"),
    ("received_at", "TIMESTAMPTZ"),
    ("day", "DATE"),
    ("project", "VARCHAR"),
    ("sdk", "VARCHAR"),
    ("envelope_event_id", "VARCHAR"),
    ("endpoint", "VARCHAR"),
    ("item_index", "BIGINT"),
    ("type", "VARCHAR"),
    ("headers", "JSON"),
    ("size", "BIGINT"),
    ("payload", "JSON"),
)
#: The endpoints whose records carry items (envelopes) or events (store and multipart bodies).
ENVELOPE_ENDPOINTS = ("envelope", "tunnel")
ITEM_ENDPOINTS = (*ENVELOPE_ENDPOINTS, "store", "minidump", "attachments")


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


REQUESTS = f"""
SELECT id, v, TRY_CAST(received_at AS TIMESTAMPTZ) AS received_at,
  CAST(TRY_CAST(received_at AS TIMESTAMPTZ) AS DATE) AS day, _sm_project(project_id) AS project, file,
  remote_addr, method, path, query, headers, endpoint, project_id, auth, content_encoding,
  wire_size, body_size, body, coalesce(body_base64, false) AS body_base64,
  coalesce(body_decoded, true) AS body_decoded, coalesce(body_truncated, false) AS body_truncated,
  coalesce(body_encoded, false) AS body_encoded, body_omitted, summary, error, notes, response,
  scripted, api, upload, redacted, forwarded_to, mirror,
  _sm_int(response -> '$.status') AS status, s[1] AS event_id, s[2] AS sdk, s[3] AS title, s[4] AS release,
  s[5] AS environment
FROM (
  SELECT *, json_extract_string(summary, ['$.event_id', '$.sdk', '$.title', '$.release', '$.environment']) AS s
  FROM {RAW} WHERE kind IS NULL
)
"""

ANSWERS = f"""
SELECT id, v, TRY_CAST(received_at AS TIMESTAMPTZ) AS received_at,
  CAST(TRY_CAST(received_at AS TIMESTAMPTZ) AS DATE) AS day, file, request_id, target, "to", via,
  endpoint, item_types, status, headers, body, coalesce(body_base64, false) AS body_base64, body_size,
  latency_ms, error, delivered, returned, dropped, mirror
FROM {RAW} WHERE kind = 'answer'
"""

#: The records whose items SQL reads (``lines`` is the body split at newlines, ``n`` its items).
_ENVELOPES = f"""
SELECT *, string_split(body, chr(10)) AS lines, _sm_items(summary) AS n FROM requests
WHERE endpoint IN {_in(ENVELOPE_ENDPOINTS)} AND body_decoded AND NOT body_truncated AND NOT body_base64
  AND NOT body_encoded
"""
_SPLIT = f"""
SELECT id AS request_id, received_at, day, project, sdk, event_id AS envelope_event_id, endpoint, lines, n
FROM ({_ENVELOPES}) WHERE _sm_splits(lines, n, body)
"""

#: The statement that selects the records :data:`PY_ITEMS` is made of: every record that
#: carries items and that SQL does not split (one scan of the files).
PY_ITEM_SOURCES = f"""
SELECT id, received_at, day, project, sdk, event_id, endpoint, method, query, headers, body, body_base64,
  body_encoded, content_encoding, summary
FROM (
  SELECT *, CASE WHEN endpoint IN {_in(ENVELOPE_ENDPOINTS)} AND NOT body_base64 AND NOT body_encoded
    THEN string_split(body, chr(10)) END AS lines, _sm_items(summary) AS n
  FROM requests WHERE endpoint IN {_in(ITEM_ENDPOINTS)} AND body_decoded AND NOT body_truncated
)
WHERE lines IS NULL OR NOT _sm_splits(lines, n, body)
"""

ITEMS = f"""
SELECT request_id, received_at, day, project, sdk, envelope_event_id, endpoint, item_index,
  CASE WHEN starts_with(t::VARCHAR, '"') THEN _sm_type(json_extract_string(t, '$')) ELSE '' END AS type,
  TRY_CAST(h AS JSON) AS headers, strlen(p) AS size, TRY_CAST(p AS JSON) AS payload
FROM (SELECT *, json_extract(h, '$.type') AS t FROM (
  SELECT request_id, received_at, day, project, sdk, envelope_event_id, endpoint,
    unnest(range(n)) AS item_index, unnest(list_slice(lines, 2, 2 * n, 2)) AS h,
    unnest(list_slice(lines, 3, 2 * n + 1, 2)) AS p
  FROM ({_SPLIT})
))
UNION ALL
SELECT request_id, received_at, day, project, sdk, envelope_event_id, endpoint, item_index, type, headers, size, payload
FROM {PY_ITEMS}
"""

#: The small fields of an event, read in one pass over its payload (json_extract with a
#: list of paths); the big ones (exception, message, user) each by its own column, which
#: DuckDB leaves out when a query does not use it.
_EVENT_PATHS = (
    "$.event_id",
    "$.sdk.name",
    "$.sdk.version",
    "$.platform",
    "$.release",
    "$.environment",
    "$.level",
    "$.transaction",
    "$.user.id",
    "$.timestamp",
    "$.dist",
    "$.server_name",
)
_F = {path[2:].replace(".", "_"): index + 1 for index, path in enumerate(_EVENT_PATHS)}


def _f(name: str) -> str:
    return f"f[{_F[name]}]"


_MESSAGE = " ".join(
    f"WHEN nullif(trim(_sm_str({source})), '') IS NOT NULL THEN _sm_str({source})"
    for source in (
        "m[1] -> '$.message'",
        "m[1] -> '$.formatted'",
        "m[1]",
        "m[2] -> '$.message'",
        "m[2] -> '$.formatted'",
        "m[2]",
    )
)

#: The levels SDKs send under other names, as grouping (and Sentry) reads them.
_LEVELS = " ".join(f"WHEN {literal(sent)} THEN {literal(stored)}" for sent, stored in sorted(LEVEL_ALIASES.items()))

EVENTS = f"""
SELECT request_id, coalesce(_sm_uuid(_sm_str({_f("event_id")})), envelope_event_id) AS event_id,
  received_at, day, project,
  coalesce(_sm_str({_f("sdk_name")}), split_part(sdk, '/', 1)) AS sdk,
  CASE WHEN _sm_str({_f("sdk_name")}) IS NOT NULL THEN _sm_scalar({_f("sdk_version")})
       WHEN strpos(sdk, '/') > 0 THEN nullif(substr(sdk, strpos(sdk, '/') + 1), '') END AS sdk_version,
  _sm_str({_f("platform")}) AS platform, _sm_scalar({_f("release")}) AS release,
  _sm_scalar({_f("environment")}) AS environment,
  CASE WHEN nullif(_sm_str({_f("level")}), '') IS NULL THEN 'error'
       ELSE CASE lower(_sm_str({_f("level")})) {_LEVELS} ELSE lower(_sm_str({_f("level")})) END END AS level,
  _sm_str(chain[-1] -> '$.type') AS exception_type, _sm_str(chain[-1] -> '$.value') AS exception_value,
  len(chain) AS exceptions, CASE {_MESSAGE} END AS message, _sm_str({_f("transaction")}) AS transaction,
  payload -> '$.user' AS "user", _sm_scalar({_f("user_id")}) AS user_id, _sm_time({_f("timestamp")}) AS timestamp,
  _sm_scalar({_f("dist")}) AS dist, _sm_str({_f("server_name")}) AS server_name, endpoint, item_index, payload
FROM (
  SELECT *, _sm_values(payload -> '$.exception') AS chain,
    json_extract(payload, ['$.logentry', '$.message']) AS m,
    json_extract(payload, {list(_EVENT_PATHS)!r}) AS f
  FROM items
  WHERE type = 'event' AND starts_with(ltrim(payload::VARCHAR, ' ' || chr(9) || chr(13)), '{{')
)
"""
