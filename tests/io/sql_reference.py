"""What the project's own Python readers say about a capture, for the sql views to agree with."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import sentry_sdk
from sentry_sdk import logger as sentry_logger

from sentry_mirror.core import bodies, envelope
from sentry_mirror.core.grouping.event_parts import exceptions_of, frames_of
from sentry_mirror.core.grouping.records import events_of
from sentry_mirror.core.lenient import loads_or_none
from sentry_mirror.core.record import Record
from sentry_mirror.errors import EnvelopeError
from sentry_mirror.testing import Mirror

Item = tuple[str, int | None, Any, Any]


def same_json(value: Any) -> Any:
    """A JSON value as both sides can compare it: NaN and infinities as null, lone
    surrogates as U+FFFD (as the views write them), integers over 64 bits as they are."""
    try:
        return orjson.loads(orjson.dumps(value))
    except TypeError:
        return json.loads(re.sub("[\ud800-\udfff]", "\ufffd", json.dumps(value, ensure_ascii=False)))


def items(records: Iterable[Record]) -> dict[str, list[Item]]:
    """Per envelope request with a whole decoded body: its items, in order, as core.envelope
    reads them: ``(type, size, headers, payload)`` (payload parsed, None when not JSON)."""
    found: dict[str, list[Item]] = {}
    for record in records:
        data = record.data
        if data["endpoint"] not in envelope.ENVELOPE_ENDPOINTS or not data.get("body_decoded", True):
            continue
        if data.get("body_truncated"):
            continue
        try:
            parsed = envelope.items_of(bodies.readable(data))
            found[record.id] = [
                (item.type, len(item.payload), same_json(item.headers), same_json(loads_or_none(item.payload)))
                for item in parsed
            ]
        except EnvelopeError:
            found[record.id] = []
    return {key: value for key, value in found.items() if value}


def _payloads(records: Iterable[Record], kind: str) -> list[tuple[str, Any]]:
    out = []
    for record in records:
        data = record.data
        if data["endpoint"] not in envelope.ENVELOPE_ENDPOINTS or data.get("body_truncated"):
            continue
        try:
            items = envelope.items_of(bodies.readable(data))
        except EnvelopeError:
            continue
        out += [(record.id, loads_or_none(item.payload)) for item in items if item.type == kind]
    return out


def errors(records: Iterable[Record]) -> Counter[tuple[str, Any, Any]]:
    """(request id, the raised exception's type and value) of every error event."""
    found: Counter[tuple[str, Any, Any]] = Counter()
    for record in records:
        for event, _ in events_of(record, {"event"}):
            chain = exceptions_of(event)
            last = chain[-1] if chain else {}
            found[(record.id, last.get("type"), last.get("value"))] += 1
    return found


def frames(records: Iterable[Record]) -> Counter[str]:
    """Frames per request: every exception's stack trace and the event's own."""
    found: Counter[str] = Counter()
    for record in records:
        for event, _ in events_of(record, {"event"}):
            count = sum(len(frames_of(exc)) for exc in exceptions_of(event)) + len(frames_of(event))
            if count:
                found[record.id] += count
    return found


def spans(records: Iterable[Record]) -> Counter[str]:
    """Child spans of the transactions, per request."""
    found: Counter[str] = Counter()
    for record in records:
        for event, _ in events_of(record, {"transaction"}):
            listed = event.get("spans")
            count = len([s for s in listed if isinstance(s, dict)]) if isinstance(listed, list) else 0
            if count:
                found[record.id] += count
    return found


def discarded(records: Iterable[Record]) -> int:
    """The quantities of the client reports' discarded_events, summed."""
    total = 0
    for _, payload in _payloads(records, "client_report"):
        rows = payload.get("discarded_events") if isinstance(payload, dict) else None
        for row in rows if isinstance(rows, list) else ():
            if isinstance(row, dict) and type(row.get("quantity")) is int:
                total += row["quantity"]
    return total


def sessions(records: Iterable[Record]) -> int:
    """Single sessions and aggregate entries."""
    materialised = list(records)
    single = [p for _, p in _payloads(materialised, "session") if isinstance(p, dict)]
    batches = [p for _, p in _payloads(materialised, "sessions") if isinstance(p, dict)]
    aggregates = sum(
        len([a for a in b.get("aggregates") if isinstance(a, dict)])
        for b in batches
        if isinstance(b.get("aggregates"), list)
    )
    return len(single) + aggregates


def breadcrumbs(records: Iterable[Record]) -> int:
    total = 0
    for record in records:
        for event, _ in events_of(record, {"event"}):
            crumbs = event.get("breadcrumbs")
            values = crumbs.get("values") if isinstance(crumbs, dict) else crumbs
            total += len([c for c in values if isinstance(c, dict)]) if isinstance(values, list) else 0
    return total


def _traffic(dsn: str) -> None:
    """A small app through the real sentry-sdk: errors with breadcrumbs, a binary
    attachment (a base64 body), a transaction with spans, a session, a check-in, a log and
    an event dropped by before_send (a client report)."""

    def before_send(event: Any, hint: Any) -> Any:
        return None if event.get("message") == "drop me" else event

    sentry_sdk.init(
        dsn,
        release="shop@2.0.0",
        environment="test",
        traces_sample_rate=1.0,
        enable_logs=True,
        default_integrations=False,
        auto_session_tracking=False,
        before_send=before_send,
    )
    try:
        sentry_sdk.add_breadcrumb(category="basket", message="opened", level="info")
        try:
            try:
                {}["missing"]
            except KeyError as exc:
                raise ValueError("could not load the basket") from exc
        except ValueError:
            sentry_sdk.capture_exception()
        sentry_sdk.capture_message("payment provider slow")
        sentry_sdk.capture_message("drop me")
        with sentry_sdk.new_scope() as scope:
            scope.add_attachment(bytes=b"\x00\x01binary\xff\n\r\n", filename="state.bin")
            try:
                1 / 0  # noqa: B018
            except ZeroDivisionError:
                sentry_sdk.capture_exception()
        with sentry_sdk.start_transaction(name="GET /checkout", op="http.server"):
            with sentry_sdk.start_span(op="db.query", name="SELECT 1"):
                pass
            with sentry_sdk.start_span(op="http.client", name="POST /charge"):
                pass
        scope = sentry_sdk.get_isolation_scope()
        scope.start_session()
        scope.end_session()
        sentry_logger.info("checked out {n}", n=1)
        sentry_sdk.get_client().close(10)
    finally:
        sentry_sdk.init()


def sdk_capture(directory: Path) -> list[Path]:
    """The snapshot files of :func:`_traffic` sent by the real sentry-sdk to a real listener."""
    with Mirror(directory / "fresh") as mirror:
        _traffic(mirror.dsn)
        mirror.wait_for(1, type="client_report", timeout=20)
    files = sorted((directory / "fresh").glob("*.jsonl.zst"))
    assert files
    return files
