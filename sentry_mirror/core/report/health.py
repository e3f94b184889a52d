"""Section 5, ``health``: sessions by status and the crash-free share (over session updates
and aggregates), and check-ins by monitor (envelope items and the cron endpoint) and status.

At most :data:`MAX_MONITORS` monitors get a row, the rest are counted together under
:data:`~.bounded.OTHER`. Merging is exact (the monitors kept are the first met, ``self``'s
records read first).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson

from sentry_mirror.core import bodies
from sentry_mirror.core.report.bounded import Capped, Json, bounded, by_count, merge_tables
from sentry_mirror.core.report.view import RecordView
from sentry_mirror.core.tolerant import Remarks, as_list

MAX_MONITORS = 1_000
#: Session statuses that end a session; crash-free counts "crashed" and "unhandled" as crashes.
_ENDED = ("exited", "crashed", "abnormal", "errored", "unhandled")


def _statuses() -> Capped:
    return Capped(100)


class Health:
    """The ``health`` aggregator."""

    reads = None  # every record (check-ins to the cron endpoint have no payload)

    def __init__(self, remarks: Remarks) -> None:
        self.remarks = remarks
        self.session_updates = 0
        self.session_status = Capped()
        self.aggregates: Counter[str] = Counter()
        self.check_ins: dict[str, Capped] = {}

    def add(self, view: RecordView) -> None:
        if view.accepted and view.endpoint == "cron":
            self._cron(view.data)
        for payload, kind in view.payloads:
            if kind == "session":
                self.session_updates += 1
                self.session_status.add(payload.get("status") or "ok")
            elif kind == "sessions":
                for aggregate in as_list(payload.get("aggregates"), self.remarks, kind, "aggregates"):
                    if isinstance(aggregate, dict):
                        for name in ("exited", "errored", "abnormal", "crashed"):
                            value = aggregate.get(name)
                            if isinstance(value, int):
                                self.aggregates[name] += value
            elif kind == "check_in":
                self._check_in(payload.get("monitor_slug") or "-", payload.get("status") or "-")

    def _cron(self, data: Mapping[str, Any]) -> None:
        query = dict(parse_qsl(data.get("query") or ""))
        parts = [part for part in str(data.get("path") or "").split("/") if part]
        slug = parts[parts.index("cron") + 1] if "cron" in parts[:-1] else "-"
        body: Any = None
        if data.get("body") and data.get("body_decoded", True):
            try:
                body = orjson.loads(bodies.readable(data))
            except orjson.JSONDecodeError:
                body = None
        status = (body.get("status") if isinstance(body, dict) else None) or query.get("status") or "-"
        self._check_in(slug, status)

    def _check_in(self, slug: Any, status: Any) -> None:
        bounded(self.check_ins, str(slug), MAX_MONITORS, _statuses).add(status)

    def merge(self, other: Health) -> None:
        self.session_updates += other.session_updates
        self.session_status.merge(other.session_status)
        self.aggregates.update(other.aggregates)
        merge_tables(self.check_ins, other.check_ins, MAX_MONITORS, _statuses, Capped.merge)

    def result(self) -> Json:
        statuses = self.session_status
        ended = sum(statuses[s] for s in _ENDED)
        ended_aggregates = sum(self.aggregates.values())
        crashed = statuses["crashed"] + statuses["unhandled"] + self.aggregates["crashed"]
        total = ended + ended_aggregates
        return {
            "session_updates": self.session_updates,
            "sessions_by_status": by_count(statuses),
            "aggregates": dict(sorted(self.aggregates.items())),
            "ended_sessions": total,
            "crash_free": round(1 - crashed / total, 4) if total else None,
            "check_ins": [
                {"monitor": slug, "count": sum(counter.values()), "statuses": by_count(counter)}
                for slug, counter in sorted(self.check_ins.items())
            ],
        }
