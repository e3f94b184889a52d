"""Section 6, ``dropped``: what the SDKs say they discarded (``client_report`` items), by
reason and category. Merging is exact (up to :data:`~.bounded.MAX_KEYS` reason and category
pairs, the first met kept)."""

from __future__ import annotations

from collections import Counter

from sentry_mirror.core.report.bounded import Capped, Json, by_count
from sentry_mirror.core.report.view import RecordView
from sentry_mirror.core.tolerant import Remarks, as_list


class Dropped:
    """The ``dropped`` aggregator."""

    reads = frozenset({"client_report"})

    def __init__(self, remarks: Remarks) -> None:
        self.remarks = remarks
        self.client_reports = 0
        self.dropped = Capped()

    def add(self, view: RecordView) -> None:
        for payload, kind in view.payloads:
            if kind != "client_report":
                continue
            self.client_reports += 1
            for dropped in as_list(payload.get("discarded_events"), self.remarks, kind, "discarded_events"):
                if isinstance(dropped, dict) and isinstance(dropped.get("quantity"), int):
                    self.dropped.add(
                        f"{dropped.get('reason') or '-'}\x00{dropped.get('category') or '-'}", dropped["quantity"]
                    )

    def merge(self, other: Dropped) -> None:
        self.client_reports += other.client_reports
        self.dropped.merge(other.dropped)

    def result(self) -> Json:
        by_reason: Counter[str] = Counter()
        by_category: Counter[str] = Counter()
        rows = []
        for key, quantity in sorted(self.dropped.items(), key=lambda kv: (-kv[1], kv[0])):
            reason, _, category = key.partition("\x00")
            by_reason[reason] += quantity
            by_category[category] += quantity
            rows.append({"reason": reason, "category": category, "quantity": quantity})
        return {
            "reports": self.client_reports,
            "total": sum(by_reason.values()),
            "by_reason": by_count(by_reason),
            "by_category": by_count(by_category),
            "rows": rows,
        }
