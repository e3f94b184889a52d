"""What every section is fed: a record read once (:class:`RecordView`), and the interface
every section implements (:class:`Aggregator`).

The builder (:mod:`.builder`) makes one view per record, whose envelope's JSON items are
decoded once (when a section first asks for them), and hands it to each section in turn. A section is an aggregator: it
``add``\\ s views, ``merge``\\ s another aggregator of its kind (fed with other records, for
reports computed in parts) and gives its part of the report as JSON (``result``).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Protocol, Self

from sentry_mirror.core import grouping
from sentry_mirror.core.describe import split_sdk
from sentry_mirror.core.envelope import TYPE_ALIASES

#: Items whose payload is JSON, read for fields and personal data.
JSON_ITEM_TYPES = frozenset(
    {"event", "transaction", "feedback", "session", "sessions", "client_report", "check_in", "log", "span",
     "trace_metric", "user_report", "profile", "replay_event", "security", "raw_security"}
)  # fmt: skip
#: Item types whose payloads are events (field highlights, source maps, platforms).
EVENTISH = frozenset({"event", "transaction", "feedback"})

Json = dict[str, Any]


class RecordView:
    """One record as the sections read it. :attr:`payloads` are the decoded JSON items, as
    ``(payload, item type)``, of an accepted record (answered 2xx, as Sentry would have
    stored it), decoded when first asked for (after the request is counted: a body that does
    not decode still counts as a request); a refused record has none and is only counted
    (traffic)."""

    __slots__ = ("_payloads", "accepted", "auth", "data", "endpoint", "items", "received", "sdk", "status")

    def __init__(self, data: Mapping[str, Any], *, payloads: list[tuple[dict[str, Any], str]] | None = None) -> None:
        self.data = data
        self.received: str = data.get("received_at") or ""
        status = (data.get("response") or {}).get("status") or 0
        self.status: int = status
        self.accepted = 200 <= status < 300
        self.endpoint: str = data.get("endpoint") or "unknown"
        auth = data.get("auth") or {}
        self.auth: Any = auth
        summary = data.get("summary") or {}
        self.sdk: Any = summary.get("sdk") or (auth.get("sentry_client") if isinstance(auth, dict) else None)
        self.items = [_canonical(item) for item in summary.get("items") or () if isinstance(item, dict)]
        self._payloads = payloads

    @property
    def payloads(self) -> list[tuple[dict[str, Any], str]]:
        payloads = self._payloads
        if payloads is None:
            # (records with no JSON item listed are skipped unparsed)
            payloads = list(grouping.events_of(self.data, JSON_ITEM_TYPES)) if self.accepted else []
            self._payloads = payloads
        return payloads

    @property
    def sdk_name(self) -> str:
        """The SDK's name (``sentry.python``), ``-`` when the record names none."""
        return _sdk_name(self.sdk)


def _canonical(item: dict[str, Any]) -> dict[str, Any]:
    """A summary item with its type as counted: snapshots written before the mirror named
    ``trace-metric`` and ``profile_chunk_ui`` kept the spelling sent."""
    kind = item.get("type")
    return {**item, "type": TYPE_ALIASES[kind]} if isinstance(kind, str) and kind in TYPE_ALIASES else item


@lru_cache(maxsize=1024)
def _sdk_name(sdk: Any) -> str:
    return split_sdk(sdk)[0] or "-"


class Aggregator(Protocol):
    """One section of the report, computed in one pass: records in, JSON out. ``reads``:
    the item types whose payloads it reads (it is given only the records carrying one), or
    None for every record."""

    @property
    def reads(self) -> frozenset[str] | None:
        """The item types whose payloads it reads; None: every record."""

    def add(self, view: RecordView) -> None:
        """Count one record (accepted or refused)."""

    def merge(self, other: Self) -> None:
        """Add what ``other`` (of the same kind, fed with other records) counted."""

    def result(self) -> Json:
        """The section's JSON (see :mod:`.result` for its shape)."""
