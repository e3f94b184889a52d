"""Section 9, ``server``: what a server must support (endpoints, methods, item types,
encodings, auth forms, content types, headers, SDKs), with counts, and the traffic per day.

It reads the request counts of the ``traffic`` aggregator it is given (the same requests,
counted once): adding and merging are the traffic aggregator's.
"""

from __future__ import annotations

from sentry_mirror.core.report.bounded import Json, by_count
from sentry_mirror.core.report.traffic import Traffic
from sentry_mirror.core.report.view import RecordView


class Server:
    """The ``server`` aggregator, a view of ``traffic``'s counts."""

    reads: frozenset[str] = frozenset()  # nothing: ``traffic`` counts the requests

    def __init__(self, traffic: Traffic) -> None:
        self.traffic = traffic

    def add(self, view: RecordView) -> None:
        """Nothing to count: ``traffic`` counts the requests."""

    def merge(self, other: Server) -> None:
        """Nothing to merge: ``traffic`` merges the requests."""

    def result(self) -> Json:
        traffic = self.traffic
        traffic.flush()
        c = traffic.counters
        duration = traffic.duration()
        per_day = 86400 / duration if duration >= 1 else None
        return {
            "endpoints": by_count(c["by_endpoint"]),
            "methods": by_count(c["methods"]),
            "item_types": by_count(c["items_by_type"]),
            "encodings": by_count(c["encodings"]),
            "auth_forms": by_count(c["auth_forms"]),
            "content_types": by_count(c["content_types"]),
            "headers": by_count(c["headers"]),
            "sdks": by_count(c["by_sdk"]),
            "requests_per_day": round(traffic.requests * per_day) if per_day else None,
            "bytes_per_day": round(traffic.wire.total * per_day) if per_day else None,
            "decoded_bytes_per_day": round(traffic.decoded.total * per_day) if per_day else None,
        }
