"""Rate limits as Sentry SDKs keep them and Relay states them: the data category each item type and endpoint
is counted in, the ``X-Sentry-Rate-Limits`` header, and :class:`RateLimits` (until when
each category may not be sent)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from sentry_mirror.core.envelope import ENVELOPE_ENDPOINTS, EVENT_ID_ITEM_TYPES, canonical_type

#: Item type -> the rate-limit data category Relay counts it in (``X-Sentry-Rate-Limits``).
CATEGORIES = {
    "event": "error",
    "transaction": "transaction",
    "attachment": "attachment",
    "session": "session",
    "sessions": "session",
    "client_report": "internal",
    "user_report": "user_report",
    "feedback": "feedback",
    "check_in": "monitor",
    "profile": "profile",
    "profile_chunk": "profile_chunk",
    "replay_event": "replay",
    "replay_recording": "replay",
    "replay_video": "replay",
    "span": "span",
    "log": "log_item",
    "trace_metric": "trace_metric",
    "statsd": "metric_bucket",
    "metric_buckets": "metric_bucket",
    "security": "security",
    "raw_security": "security",
    "unreal_report": "error",
}
#: Platforms whose profile chunks Relay counts as UI profiling (``profile_chunk_ui``), by the
#: item header ``platform`` (relay-profiling ``ProfileType::from_platform``).
UI_PROFILE_PLATFORMS = frozenset({"cocoa", "android", "javascript"})
#: Endpoint -> category, for requests that are not envelopes.
ENDPOINT_CATEGORIES = {
    "store": "error",
    "minidump": "error",
    "unreal": "error",
    "security": "security",
    "cron": "monitor",
    "attachments": "attachment",
    "tus_upload": "attachment",
}

#: Every data category Relay names (relay-base-schema ``DataCategory``): the item and endpoint
#: categories above and the ones only client reports and rate limits speak of.
DATA_CATEGORIES = frozenset(
    {*CATEGORIES.values(), *ENDPOINT_CATEGORIES.values(), "default", "profile_chunk_ui", "attachment_item",
     "log_byte", "span_indexed", "transaction_indexed", "transaction_processed", "profile_indexed",
     "profile_duration", "profile_duration_ui", "monitor_seat", "uptime", "user_report_v2", "replay_video",
     "metric_second", "seer_autofix", "seer_scanner", "trace_metric_byte", "size_analysis", "installable_build", "unknown"}
)  # fmt: skip


def category_of(item_type: str) -> str:
    """The rate-limit data category of an item type (``default`` for unknown ones)."""
    return CATEGORIES.get(canonical_type(item_type), "default")


def item_category(item_type: str, headers: Any = None) -> str:
    """The category of one item, its headers read where Relay reads them: a profile chunk
    from a UI platform (``platform`` header) is ``profile_chunk_ui``."""
    if isinstance(headers, Mapping) and headers.get("platform") in UI_PROFILE_PLATFORMS:
        if canonical_type(item_type) == "profile_chunk":
            return "profile_chunk_ui"
    return category_of(item_type)


@functools.lru_cache(maxsize=1024)
def categories_of(item_types: tuple[str, ...]) -> tuple[str, ...]:
    """The rate-limit categories of an envelope's item types, each once, in order."""
    return tuple(dict.fromkeys(category_of(t) for t in item_types))


def record_categories(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The rate-limit categories a recorded request carries."""
    if data["endpoint"] in ENVELOPE_ENDPOINTS:
        items = (data.get("summary") or {}).get("items") or ()
        return tuple(dict.fromkeys(item_category(str(item.get("type")), item.get("headers")) for item in items))
    return (ENDPOINT_CATEGORIES.get(data["endpoint"], "default"),)


#: The longest limit taken from a header (seconds, about 116 days): a longer one is cut to it.
MAX_SECONDS = 10_000_000.0
#: What a 429 without a readable ``Retry-After`` limits for (the SDK development spec's default).
DEFAULT_RETRY_AFTER = 60.0


def header_seconds(text: str) -> float | None:
    """A header's seconds: a finite number not below 0, cut to :data:`MAX_SECONDS`; None
    for anything else (``inf``, ``nan``, ``-1``, words)."""
    try:
        seconds = float(text)
    except ValueError:
        return None
    return min(seconds, MAX_SECONDS) if math.isfinite(seconds) and seconds >= 0 else None


def parse_rate_limits(value: str) -> list[tuple[float, frozenset[str]]]:
    """``X-Sentry-Rate-Limits``: ``<secs>:<cat;cat>:<scope>[:<reason>[:<ns>]], ...`` ->
    [(seconds, categories)], empty categories meaning all. Unparseable entries (and seconds
    that are not finite or below 0) are skipped; seconds past :data:`MAX_SECONDS` are cut to it."""
    limits = []
    for entry in value.split(","):
        parts = entry.strip().split(":")
        seconds = header_seconds(parts[0]) if parts[0] else None
        if seconds is None:
            continue
        categories = frozenset(c for c in (parts[1].split(";") if len(parts) > 1 else ()) if c)
        limits.append((seconds, categories))
    return limits


def retry_after_seconds(value: str, wall: float | None = None) -> float | None:
    """``Retry-After``: seconds (:func:`header_seconds`), or an HTTP date, read against
    ``wall`` (seconds since the epoch, when the answer went out) when it is known; None when
    it cannot be read."""
    seconds = header_seconds(value)
    if seconds is not None or wall is None:
        return seconds
    try:
        date = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if date.tzinfo is None:  # RFC 9110 dates are GMT
        return None
    return min(max(date.timestamp() - wall, 0.0), MAX_SECONDS)


def _retry_after(value: str | None, wall: float | None) -> float:
    seconds = retry_after_seconds(value, wall) if value is not None else None
    return DEFAULT_RETRY_AFTER if seconds is None else seconds


class RateLimits:
    """What an SDK keeps from 429s and ``X-Sentry-Rate-Limits`` (on any status): until when
    each category (``None``: all) may not be sent. ``internal`` (client reports) never is."""

    def __init__(self) -> None:
        self.until: dict[str | None, float] = {}

    def update(self, status: int, headers: Mapping[str, str], now: float, wall: float | None = None) -> None:
        """Take an answer in at ``now``; ``wall`` is the same moment in seconds since the
        epoch, for a ``Retry-After`` given as an HTTP date (without it such a date counts as
        unreadable: :data:`DEFAULT_RETRY_AFTER`)."""
        header = headers.get("x-sentry-rate-limits")
        parsed = parse_rate_limits(header) if header else []
        if parsed:  # (a 429 whose header cannot be read limits as one without it)
            for seconds, categories in parsed:
                for category in categories or (None,):
                    self.until[category] = max(self.until.get(category, 0.0), now + seconds)
        elif status == 429:
            self.until[None] = max(self.until.get(None, 0.0), now + _retry_after(headers.get("retry-after"), wall))

    def limited(self, categories: Iterable[str], now: float) -> frozenset[str]:
        if not self.until:
            return frozenset()
        everything = self.until.get(None, 0.0) > now
        return frozenset(c for c in categories if c != "internal" and (everything or self.until.get(c, 0.0) > now))


#: Item types that are a request's event, and the category Relay checks for it
#: (relay-server ``utils/rate_limits.rs`` ``infer_event_category``).
EVENT_CATEGORIES = {
    "event": "error",
    "transaction": "transaction",
    "security": "security",
    "raw_security": "security",
    "unreal_report": "error",
    "feedback": "feedback",
}
#: Attachment types an event is made from (Relay ``Item::creates_event``): they go with a
#: limited event, but an attachment limit keeps them (marked, not dropped).
CRASH_ATTACHMENT_TYPES = frozenset(
    {"event.minidump", "event.applecrashreport", "event.payload", "event.breadcrumbs", "playstation.prosperodump"}
)
#: The content types of trace attachments (Relay ``ContentType::TraceAttachment``).
TRACE_ATTACHMENT_TYPES = frozenset({"application/vnd.sentry.trace-attachment", "application/vnd.sentry.attachment.v2"})


def enforced(endpoint: str, items: Iterable[Mapping[str, Any]], limited: Callable[[str], bool]) -> tuple[bool, ...]:
    """Which items of a request Relay drops when ``limited(category)`` says a category is
    rate limited (``EnvelopeLimiter::execute``, ``Enforcement::retain_item``): with a
    limited event (the first item that makes one) go the items that depend on it
    (``Item::requires_event``: attachments, profiles, user reports, form data, ...) and
    the spans; a profile without an event also goes under a transaction limit, a span's
    attachment under a span limit; a crash
    attachment stays under an attachment limit; client reports never go. A request that
    is not an envelope is one item of its endpoint's category."""
    if endpoint not in ENVELOPE_ENDPOINTS:
        return (limited(ENDPOINT_CATEGORIES.get(endpoint, "default")),)
    units = [(canonical_type(str(item.get("type"))), _headers(item)) for item in items]
    event = next((_event_category(kind, headers) for kind, headers in units if _event_category(kind, headers)), None)
    event_limited = event is not None and limited(event)
    return tuple(_dropped(kind, headers, event, event_limited, limited) for kind, headers in units)


def _headers(item: Mapping[str, Any]) -> Mapping[str, Any]:
    headers = item.get("headers")
    return headers if isinstance(headers, Mapping) else {}


def _event_category(kind: str, headers: Mapping[str, Any]) -> str | None:
    if kind == "attachment":
        return "error" if headers.get("attachment_type") in CRASH_ATTACHMENT_TYPES else None
    return EVENT_CATEGORIES.get(kind)


def _dropped(
    kind: str, headers: Mapping[str, Any], event: str | None, event_limited: bool, limited: Callable[[str], bool]
) -> bool:
    category = item_category(kind, headers)
    if category == "internal":
        return False
    if event_limited and (kind in EVENT_ID_ITEM_TYPES or kind == "span"):
        return True
    if kind == "attachment" and headers.get("attachment_type") in CRASH_ATTACHMENT_TYPES:
        return False
    if kind == "profile" and event is None and limited("transaction"):
        return True
    if kind == "attachment" and _span_attachment(headers) and limited("span"):
        return True  # a span's attachment goes with the spans' limit
    return kind not in EVENT_CATEGORIES and limited(category)


def _span_attachment(headers: Mapping[str, Any]) -> bool:
    """A span attachment: a trace attachment (``attachment.v2``) with a ``span_id``."""
    return headers.get("content_type") in TRACE_ATTACHMENT_TYPES and headers.get("span_id") is not None
