"""Section 4, ``performance``: transactions by name and op (grouped as ``sentry-mirror group
--item-type transaction`` groups them), and spans by op with duration p50/p95.

At most :data:`MAX_SPAN_OPS` span ops get a row, the rest are counted together under
:data:`~.bounded.OTHER`. Merging is exact while each op's and each transaction group's
durations fit their samples (see :mod:`.bounded` and
:meth:`~sentry_mirror.core.grouping.TransactionGrouper.merge`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sentry_mirror.core import grouping
from sentry_mirror.core.grouping import TransactionGroup, duration_ms
from sentry_mirror.core.report.bounded import RESERVOIR_SIZE, Json, Reservoir, bounded, merge_tables
from sentry_mirror.core.report.view import RecordView
from sentry_mirror.core.tolerant import Remarks, as_list

MAX_SPAN_OPS = 500
#: Durations kept per span op for its percentiles.
SPAN_SAMPLE = 1000


def _op_reservoir() -> Reservoir:
    return Reservoir(SPAN_SAMPLE)


class Performance:
    """The ``performance`` aggregator."""

    reads = frozenset({"transaction", "span"})

    def __init__(self, remarks: Remarks) -> None:
        self.remarks = remarks
        self.transactions = grouping.TransactionGrouper(RESERVOIR_SIZE)
        self.span_ops: dict[str, Reservoir] = {}
        self.span_count = 0

    def add(self, view: RecordView) -> None:
        for payload, kind in view.payloads:
            if kind == "transaction":
                self.transactions.add(payload, view.received)
                for span in as_list(payload.get("spans"), self.remarks, kind, "spans"):
                    if isinstance(span, dict):
                        self._span(span.get("op"), duration_ms(span))
            elif kind == "span":
                spans = payload.get("items")
                for span in as_list(spans, self.remarks, kind, "items") if spans is not None else [payload]:
                    if isinstance(span, dict):
                        self._span(_span_op(span), _span_v2_duration(span))

    def _span(self, op: Any, duration: float | None) -> None:
        self.span_count += 1
        op = op if isinstance(op, str) and op else "-"
        reservoir = bounded(self.span_ops, op, MAX_SPAN_OPS, _op_reservoir)
        if duration is not None:
            reservoir.add(duration)
        else:
            reservoir.count += 1

    def merge(self, other: Performance) -> None:
        self.transactions.merge(other.transactions)
        self.span_count += other.span_count
        merge_tables(self.span_ops, other.span_ops, MAX_SPAN_OPS, _op_reservoir, Reservoir.merge)

    def groups(self) -> tuple[TransactionGroup, ...]:
        """Every transaction group, most frequent first."""
        return tuple(self.transactions.groups())

    def result(self) -> Json:
        return self.result_of(self.groups())

    def result_of(self, transactions: tuple[TransactionGroup, ...]) -> Json:
        """The section's JSON for ``transactions`` (:meth:`groups`, computed once by the builder)."""
        ops = []
        for op, reservoir in self.span_ops.items():
            figures = reservoir.to_json()
            ops.append({"op": op, "count": reservoir.count, "p50_ms": figures["p50"], "p95_ms": figures["p95"]})
        ops.sort(key=lambda row: (-row["count"], row["op"]))
        return {
            "transactions": sum(t.count for t in transactions),
            "spans": self.span_count,
            "by_transaction": [t.to_dict() for t in transactions],
            "span_ops": ops,
        }


def _span_op(span: Mapping[str, Any]) -> Any:
    if span.get("op"):
        return span["op"]
    attributes = span.get("attributes")
    op = attributes.get("sentry.op") if isinstance(attributes, dict) else None
    return op.get("value") if isinstance(op, dict) else op


def _span_v2_duration(span: Mapping[str, Any]) -> float | None:
    if "end_timestamp" in span:
        return duration_ms({"start_timestamp": span.get("start_timestamp"), "timestamp": span.get("end_timestamp")})
    return duration_ms(span)
