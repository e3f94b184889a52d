"""The views of an event's parts and of the other item types: frames, spans, breadcrumbs,
client reports and sessions (all read from ``items`` and ``events``, :mod:`.views`)."""

from __future__ import annotations

_FRAME = """
  _sm_str(frame -> '$.filename') AS filename, _sm_str(frame -> '$.abs_path') AS abs_path,
  _sm_str(frame -> '$.function') AS function, _sm_str(frame -> '$.module') AS module,
  _sm_int(frame -> '$.lineno') AS lineno, _sm_int(frame -> '$.colno') AS colno,
  _sm_bool(frame -> '$.in_app') AS in_app, coalesce(_sm_str(frame -> '$.platform'), platform) AS platform,
  _sm_str(frame -> '$.package') AS package, _sm_scalar(frame -> '$.instruction_addr') AS instruction_addr
"""

#: An exception's frames carry its index in the chain; the event's own stack trace (an
#: event without exception, a message with attach_stacktrace) has exception_index NULL.
FRAMES = f"""
SELECT request_id, event_id, received_at, day, project, exception_index, frame_index, {_FRAME}
FROM (
  SELECT request_id, event_id, received_at, day, project, platform, exception_index,
    unnest(range(len(fs))) AS frame_index, unnest(fs) AS frame
  FROM (
    SELECT *, _sm_objects(json_extract(container, '$.stacktrace.frames')) AS fs FROM (
      SELECT request_id, event_id, received_at, day, project, platform,
        unnest(range(len(_sm_values(payload -> '$.exception')))) AS exception_index,
        unnest(_sm_values(payload -> '$.exception')) AS container
      FROM events
      UNION ALL
      SELECT request_id, event_id, received_at, day, project, platform, NULL, payload FROM events
    )
  )
)
"""

_SPAN = """
  _sm_str(span -> '$.trace_id') AS trace_id, _sm_str(span -> '$.span_id') AS span_id,
  _sm_str(span -> '$.parent_span_id') AS parent_span_id, _sm_str(span -> '$.op') AS op,
  _sm_str(span -> '$.description') AS description, _sm_str(span -> '$.status') AS status,
  _sm_time(span -> '$.start_timestamp') AS start, _sm_time(span -> '$.timestamp') AS "end",
  (_sm_seconds(span -> '$.timestamp') - _sm_seconds(span -> '$.start_timestamp')) * 1000 AS duration_ms,
  span -> '$.data' AS data
"""

#: The child spans of transactions (``source`` = 'transaction'), and span items ('span').
SPANS = f"""
SELECT request_id, event_id, received_at, day, project, source, transaction, {_SPAN}
FROM (
  SELECT request_id, coalesce(_sm_uuid(_sm_str(payload -> '$.event_id')), envelope_event_id) AS event_id,
    received_at, day, project, 'transaction' AS source, _sm_str(payload -> '$.transaction') AS transaction,
    unnest(_sm_objects(payload -> '$.spans')) AS span
  FROM items WHERE type = 'transaction' AND json_type(payload) = 'OBJECT'
  UNION ALL
  SELECT request_id, NULL, received_at, day, project, 'span', _sm_str(payload -> '$.segment_name'), payload
  FROM items WHERE type = 'span' AND json_type(payload) = 'OBJECT'
)
"""

BREADCRUMBS = """
SELECT request_id, event_id, received_at, day, project, breadcrumb_index,
  _sm_time(crumb -> '$.timestamp') AS timestamp, _sm_str(crumb -> '$.type') AS type,
  _sm_str(crumb -> '$.category') AS category, _sm_str(crumb -> '$.level') AS level,
  _sm_str(crumb -> '$.message') AS message, crumb -> '$.data' AS data
FROM (
  SELECT request_id, event_id, received_at, day, project,
    unnest(range(len(_sm_values(payload -> '$.breadcrumbs')))) AS breadcrumb_index,
    unnest(_sm_values(payload -> '$.breadcrumbs')) AS crumb
  FROM events
)
"""

#: Client reports' outcome lists: one row per entry.
OUTCOME_LISTS = ("discarded_events", "rate_limited_events", "filtered_events", "filtered_sampling_events")

CLIENT_REPORTS = f"""
SELECT request_id, received_at, day, project, sdk, list, _sm_str(entry -> '$.reason') AS reason,
  _sm_str(entry -> '$.category') AS category, _sm_int(entry -> '$.quantity') AS quantity,
  _sm_time(payload -> '$.timestamp') AS timestamp
FROM (
  {
    " UNION ALL ".join(
        f"SELECT *, '{name}' AS list, unnest(_sm_objects(payload -> '$.{name}')) AS entry FROM items "
        "WHERE type = 'client_report' AND json_type(payload) = 'OBJECT'"
        for name in OUTCOME_LISTS
    )
}
)
"""

#: Single sessions (``kind`` 'session', one row each) and the aggregates of session batches
#: ('aggregate': one row per entry of ``aggregates``, with its counts).
SESSIONS = """
SELECT request_id, received_at, day, project, sdk, 'session' AS kind,
  _sm_scalar(payload -> '$.sid') AS sid, _sm_scalar(payload -> '$.did') AS did,
  _sm_str(payload -> '$.status') AS status, _sm_int(payload -> '$.errors') AS errors,
  _sm_bool(payload -> '$.init') AS init, _sm_time(payload -> '$.started') AS started,
  _sm_scalar(payload -> '$.attrs.release') AS release, _sm_scalar(payload -> '$.attrs.environment') AS environment,
  NULL::BIGINT AS exited, NULL::BIGINT AS errored, NULL::BIGINT AS abnormal, NULL::BIGINT AS crashed
FROM items WHERE type = 'session' AND json_type(payload) = 'OBJECT'
UNION ALL
SELECT request_id, received_at, day, project, sdk, 'aggregate', NULL, _sm_scalar(entry -> '$.did'), NULL, NULL,
  NULL, _sm_time(entry -> '$.started'), release, environment,
  _sm_int(entry -> '$.exited'), _sm_int(entry -> '$.errored'), _sm_int(entry -> '$.abnormal'),
  _sm_int(entry -> '$.crashed')
FROM (
  SELECT *, _sm_scalar(payload -> '$.attrs.release') AS release,
    _sm_scalar(payload -> '$.attrs.environment') AS environment,
    unnest(_sm_objects(payload -> '$.aggregates')) AS entry
  FROM items WHERE type = 'sessions' AND json_type(payload) = 'OBJECT'
)
"""
