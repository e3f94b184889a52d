"""One-line descriptions of what a request carried: the title a person recognises.

An exception's ``Type: value``, a message, a transaction name, a check-in's slug and
status, a log's body. Shared by the listener's live line and the readers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from sentry_mirror.core import bodies, envelope
from sentry_mirror.core.lenient import loads_or_none
from sentry_mirror.errors import EnvelopeError

MAX_TITLE = 200


def clip(text: str) -> str:
    """A title on one line, cut to MAX_TITLE characters (event titles and the web API's alike)."""
    text = " ".join(text.split())
    return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 1] + "…"


def _exception_title(event: dict[str, Any]) -> str | None:
    exception = event.get("exception")
    values = exception.get("values") if isinstance(exception, dict) else exception
    if not isinstance(values, list) or not values or not isinstance(values[-1], dict):
        return None
    last = values[-1]  # Sentry lists the chain oldest first: the last one was raised
    kind, value = last.get("type"), last.get("value")
    if kind and value:
        return f"{kind}: {value}"
    return str(kind or value or "") or None


def _message(event: dict[str, Any]) -> str | None:
    for source in (event.get("logentry"), event.get("message")):
        if isinstance(source, str) and source:
            return source
        if isinstance(source, dict):
            text = source.get("formatted") or source.get("message")
            if isinstance(text, str) and text:
                return text
    return None


def event_title(event: Any) -> str | None:
    """The title Sentry would show for an event payload."""
    if not isinstance(event, dict):
        return None
    title = _exception_title(event) or _message(event)
    if title is None and event.get("type") == "transaction":
        title = event.get("transaction")
    if title is None and isinstance(event.get("csp-report"), dict):
        report = event["csp-report"]
        title = f"CSP: {report.get('violated-directive') or report.get('effective-directive')} blocked {report.get('blocked-uri')}"
    return clip(str(title)) if title else None


def item_title(item_type: str, payload: Any) -> str | None:
    """A title for one item's parsed JSON payload, or None when it has none worth showing."""
    if not isinstance(payload, dict):
        return None
    if item_type in ("event", "feedback"):
        title = event_title(payload)  # clipped already
        if title is None and item_type == "feedback":
            contexts = payload.get("contexts")
            feedback = contexts.get("feedback") if isinstance(contexts, dict) else None
            message = feedback.get("message") if isinstance(feedback, dict) else None
            title = clip(message) if isinstance(message, str) and message else None
        return title or ("<unlabeled event>" if item_type == "event" else None)
    if item_type == "transaction":
        name = payload.get("transaction")
        return clip(str(name)) if name else None
    if item_type == "check_in":
        return clip(f"{payload.get('monitor_slug')} {payload.get('status')}")
    if item_type in ("log", "span", "trace_metric"):
        entries = payload.get("items")
        if isinstance(entries, list) and entries and isinstance(entries[0], dict):
            first = entries[0]
            text = first.get("body") or first.get("name") or first.get("description") or ""
            if item_type == "trace_metric" and text:  # checkout.started counter 1
                value = first.get("value")
                value = f"{value:g}" if isinstance(value, float) else value
                text = " ".join(str(part) for part in (text, first.get("type"), value) if part is not None)
            more = f" (+{len(entries) - 1} more)" if len(entries) > 1 else ""
            return clip(f"{text}{more}") if text else None
        text = payload.get("description") or payload.get("name")
        return clip(str(text)) if text else None
    if item_type == "session":
        return clip(f"session {payload.get('status')}")
    if item_type == "client_report":
        dropped = payload.get("discarded_events")
        if isinstance(dropped, list):
            total = sum(
                d.get("quantity", 0) for d in dropped if isinstance(d, dict) and isinstance(d.get("quantity"), int)
            )
            return f"client report: {total} dropped"
    return None


_TITLED = ("event", "transaction", "feedback", "check_in", "log", "span", "trace_metric", "session")
_EVENTISH = ("event", "transaction", "feedback")
#: Payloads bigger than this are not parsed for their facts (title, level, ...): Relay refuses
#: events over 1 MiB (413), and SDKs send logs and spans in batches of about 100 (kilobytes).
#: Parsing costs about 37 times a container's size in Python objects while holding the GIL:
#: four gzip bodies of 12 MiB span containers held the listener's other clients at a p99 of
#: 349 ms, and one 198 MiB event took it to 650 MB.
FACTS_MAX = 2 << 20
_CONSTANT_TITLES = {"minidump": "minidump", "unreal": "unreal crash report"}


@dataclass(frozen=True, slots=True)
class Facts:
    """What a person browses requests by: the title, and the event's level, environment
    and release. The listener stores them in each record's summary."""

    title: str | None = None
    level: str | None = None
    environment: str | None = None
    release: str | None = None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def payload_facts(item_type: str, payload: Any) -> Facts:
    """The facts of one parsed item payload (an event, a transaction, a check-in, a session …)."""
    if not isinstance(payload, dict):
        return Facts(item_title(item_type, payload))
    attrs = payload.get("attrs")
    if not isinstance(attrs, dict):
        attrs = {}
    return Facts(
        item_title(item_type, payload),
        _text(payload.get("level")),
        _text(payload.get("environment")) or _text(attrs.get("environment")),
        _text(payload.get("release")) or _text(attrs.get("release")),
    )


def envelope_facts(parsed: envelope.Envelope) -> Facts:
    """The facts of an envelope: from its first titled items (one JSON parse each, stopping
    at the first event or transaction), with the envelope's trace header as a fallback."""
    title = level = environment = release = None
    for item in parsed.items:
        kind = item.type
        if kind not in _TITLED or len(item.payload) > FACTS_MAX:
            continue
        found = payload_facts(kind, loads_or_none(item.payload))
        title, level = title or found.title, level or found.level
        environment, release = environment or found.environment, release or found.release
        if kind in _EVENTISH and title:
            break
    trace = parsed.headers.get("trace")
    if isinstance(trace, dict):
        environment = environment or _text(trace.get("environment"))
        release = release or _text(trace.get("release"))
    return Facts(title, level, environment, release)


def record_facts(record: Mapping[str, Any]) -> Facts:
    """The facts of a snapshot record: from its summary, or, for records written before the
    summary held them, derived from the body."""
    summary = record.get("summary") or {}
    if "title" in summary:
        return Facts(summary.get("title"), summary.get("level"), summary.get("environment"), summary.get("release"))
    endpoint = record["endpoint"]
    if endpoint in _CONSTANT_TITLES:
        return Facts(_CONSTANT_TITLES[endpoint])
    if not record.get("body_decoded", True) or record.get("body_truncated"):
        return Facts()
    body = bodies.readable(record)
    if endpoint in envelope.ENVELOPE_ENDPOINTS or (endpoint == "store" and b"\n{" in body[:65536]):
        try:
            return envelope_facts(envelope.parse(body, strict=False))
        except EnvelopeError:
            return Facts()
    if endpoint == "store":
        data = dict(parse_qsl(record.get("query") or "")).get("sentry_data") if record.get("method") == "GET" else body
        return payload_facts("event", loads_or_none(data)) if data else Facts()
    if endpoint == "security":
        return payload_facts("event", loads_or_none(body))
    if endpoint == "cron":
        check_in = loads_or_none(body) if body else None
        if not isinstance(check_in, dict):
            check_in = dict(parse_qsl(record.get("query") or ""))
        slug = [part for part in record["path"].split("/") if part]
        check_in.setdefault("monitor_slug", slug[slug.index("cron") + 1] if "cron" in slug[:-1] else None)
        return payload_facts("check_in", check_in)
    return Facts()


def record_title(record: Mapping[str, Any]) -> str | None:
    """The title of a snapshot record (see :func:`record_facts`)."""
    return record_facts(record).title
