"""One-line descriptions of what a request carried: the title a person recognises.

An exception's ``Type: value``, a message, a transaction name, a check-in's slug and
status, a log's body. Shared by the listener's live line and the readers.
"""

from __future__ import annotations

from typing import Any

MAX_TITLE = 200


def _clip(text: str) -> str:
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
    return _clip(str(title)) if title else None


def item_title(item_type: str, payload: Any) -> str | None:
    """A title for one item's parsed JSON payload, or None when it has none worth showing."""
    if not isinstance(payload, dict):
        return None
    if item_type in ("event", "feedback"):
        title = event_title(payload)
        if title is None and item_type == "feedback":
            contexts = payload.get("contexts")
            feedback = contexts.get("feedback") if isinstance(contexts, dict) else None
            message = feedback.get("message") if isinstance(feedback, dict) else None
            title = message if isinstance(message, str) else None
        return _clip(title) if title else ("<unlabeled event>" if item_type == "event" else None)
    if item_type == "transaction":
        name = payload.get("transaction")
        return _clip(str(name)) if name else None
    if item_type == "check_in":
        return _clip(f"{payload.get('monitor_slug')} {payload.get('status')}")
    if item_type in ("log", "span", "trace_metric"):
        entries = payload.get("items")
        if isinstance(entries, list) and entries and isinstance(entries[0], dict):
            first = entries[0]
            text = first.get("body") or first.get("name") or first.get("description") or ""
            more = f" (+{len(entries) - 1} more)" if len(entries) > 1 else ""
            return _clip(f"{text}{more}") if text else None
        text = payload.get("description") or payload.get("name")
        return _clip(str(text)) if text else None
    if item_type == "session":
        return _clip(f"session {payload.get('status')}")
    if item_type == "client_report":
        dropped = payload.get("discarded_events")
        if isinstance(dropped, list):
            total = sum(d.get("quantity", 0) for d in dropped if isinstance(d, dict) and isinstance(d.get("quantity"), int))
            return f"client report: {total} dropped"
    return None
