"""Rate limits as Sentry SDKs keep them and Relay states them: the data category each item type and endpoint
is counted in, the ``X-Sentry-Rate-Limits`` header, and :class:`RateLimits` (until when
each category may not be sent)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from sentry_mirror.core.envelope import canonical_type

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
    if data["endpoint"] in ("envelope", "tunnel"):
        items = (data.get("summary") or {}).get("items") or ()
        return tuple(dict.fromkeys(item_category(str(item.get("type")), item.get("headers")) for item in items))
    return (ENDPOINT_CATEGORIES.get(data["endpoint"], "default"),)


def parse_rate_limits(value: str) -> list[tuple[float, frozenset[str]]]:
    """``X-Sentry-Rate-Limits``: ``<secs>:<cat;cat>:<scope>[:<reason>[:<ns>]], ...`` ->
    [(seconds, categories)], empty categories meaning all. Unparseable entries are skipped."""
    limits = []
    for entry in value.split(","):
        parts = entry.strip().split(":")
        if not parts or not parts[0]:
            continue
        try:
            seconds = float(parts[0])
        except ValueError:
            continue
        categories = frozenset(c for c in (parts[1].split(";") if len(parts) > 1 else ()) if c)
        limits.append((seconds, categories))
    return limits


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value is not None else 60.0
    except ValueError:
        return 60.0


class RateLimits:
    """What an SDK keeps from 429s and ``X-Sentry-Rate-Limits`` (on any status): until when
    each category (``None``: all) may not be sent. ``internal`` (client reports) never is."""

    def __init__(self) -> None:
        self.until: dict[str | None, float] = {}

    def update(self, status: int, headers: Mapping[str, str], now: float) -> None:
        header = headers.get("x-sentry-rate-limits")
        if header:
            for seconds, categories in parse_rate_limits(header):
                for category in categories or (None,):
                    self.until[category] = max(self.until.get(category, 0.0), now + seconds)
        elif status == 429:
            self.until[None] = max(self.until.get(None, 0.0), now + _retry_after(headers.get("retry-after")))

    def limited(self, categories: Iterable[str], now: float) -> frozenset[str]:
        if not self.until:
            return frozenset()
        everything = self.until.get(None, 0.0) > now
        return frozenset(c for c in categories if c != "internal" and (everything or self.until.get(c, 0.0) > now))
