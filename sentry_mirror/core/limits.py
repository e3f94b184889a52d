"""Relay's size and count limits for one request, and the item-type families they apply to.

One place for these facts: the listener answers by them (``core/ingest/``) and the report
predicts what Sentry would refuse by them (``core/report``). Source: Relay's
``relay-config/src/config.rs`` defaults and ``relay-server/src/utils/sizes.rs``.
"""

from __future__ import annotations

KIB = 1024
MIB = 1024 * KIB

#: An event-like item, a store body or a security report: at most 1 MiB.
MAX_EVENT_SIZE = 1 * MIB

#: Event-like items: at most one per envelope, each at most :data:`MAX_EVENT_SIZE`.
EVENT_LIKE = frozenset({"event", "transaction", "security", "raw_security", "feedback", "replay_event", "form_data"})

#: Per-type limits: (max total bytes, max item count) for one envelope.
ITEM_LIMITS: dict[str, tuple[int, int]] = {
    "attachment": (200 * MIB, 30),
    "session": (10 * MIB, 100),
    "sessions": (10 * MIB, 100),
    "client_report": (100 * KIB, 100),
    "check_in": (100 * KIB, 1),
    "profile": (50 * MIB, 1),
    "profile_chunk": (50 * MIB, 1),
    "replay_recording": (10 * MIB, 1),
    "replay_video": (10 * MIB, 1),
    "log": (12 * MIB, 1),
    "trace_metric": (12 * MIB, 1),
    "statsd": (1 * MIB, 1),
    "metric_buckets": (1 * MIB, 1),
}

#: Container items' content types: ``item_count`` entries under ``items`` (relay-server
#: ``envelope/content_type.rs``, ``ContentType::is_container``; matched case-insensitively).
CONTAINER_CONTENT_TYPES = frozenset(
    {
        "application/vnd.sentry.items.log+json",
        "application/vnd.sentry.items.span.v2+json",
        "application/vnd.sentry.items.trace-metric+json",
    }
)
#: A span container (span v2): at most one per envelope, 12 MiB (Relay's ``max_container_size``).
#: Standalone (v1) spans have their own count limit (``max_standalone_span_count``), not modelled.
SPAN_CONTAINER_LIMIT = (12 * MIB, 1)
