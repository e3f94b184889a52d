"""Section 3, ``issues``: the top groups, grouped as ``sentry-mirror group`` groups them
(:class:`~sentry_mirror.core.grouping.Grouper`, the default strategy).

Merging is the grouper's (:meth:`~sentry_mirror.core.grouping.Grouper.merge`): exact while
neither part has more than ``MAX_GROUPS`` groups, ``MAX_USERS`` users or ``MAX_VALUES``
values in a group.
"""

from __future__ import annotations

from sentry_mirror.core import grouping
from sentry_mirror.core.grouping import Group
from sentry_mirror.core.report.bounded import Json
from sentry_mirror.core.report.view import RecordView

#: Groups listed in the issues section.
TOP_GROUPS = 20


class Issues:
    """The ``issues`` aggregator."""

    reads = frozenset({"event"})

    def __init__(self, top_groups: int = TOP_GROUPS) -> None:
        self.top_groups = top_groups
        self.grouper = grouping.Grouper(grouping.DEFAULT_STRATEGY, grouping.MAX_IDS)

    def add(self, view: RecordView) -> None:
        for payload, kind in view.payloads:
            if kind == "event":
                self.grouper.add(payload, view.data)

    def merge(self, other: Issues) -> None:
        self.grouper.merge(other.grouper)

    def groups(self) -> tuple[Group, ...]:
        """Every group, most frequent first."""
        return tuple(self.grouper.groups())

    def result(self) -> Json:
        return self.result_of(self.groups())

    def result_of(self, groups: tuple[Group, ...]) -> Json:
        """The section's JSON for ``groups`` (:meth:`groups`, computed once by the builder)."""
        top = []
        for group in groups[: self.top_groups]:
            entry = group.to_dict()
            entry["event_ids"] = entry["event_ids"][:5]
            entry["record_ids"] = entry["record_ids"][:5]
            top.append(entry)
        return {"groups": len(groups), "events": sum(g.count for g in groups), "top": top}
