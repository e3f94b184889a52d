"""Comparing strategies: several over the same events in one pass, and, for each pair,
where the second splits the first's groups or merges them (:func:`compare`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sentry_mirror.core.grouping.groups import ERRORS, MAX_IDS, SHORT_ID_LENGTH, Group, Grouper
from sentry_mirror.core.grouping.records import RecordLike, each_event
from sentry_mirror.core.malformed import Malformed


@dataclass(frozen=True, slots=True)
class Flow:
    """``events`` events that strategy A put in group ``a`` and strategy B in group ``b``
    (both short ids)."""

    a: str
    b: str
    events: int


@dataclass(frozen=True, slots=True)
class PairComparison:
    """How strategy ``b`` regroups the events of strategy ``a``.

    ``flows`` lists, for each group of ``a`` (in ``a``'s group order), the groups of ``b``
    its events fall in (most events first). ``splits``: groups of ``a`` spread over two or
    more groups of ``b``. ``merges``: groups of ``b`` that take events from two or more
    groups of ``a``.
    """

    a: str
    b: str
    flows: tuple[Flow, ...]
    splits: tuple[str, ...]
    merges: tuple[str, ...]

    def targets(self, a_short_id: str) -> tuple[tuple[str, int], ...]:
        """The groups of ``b`` that group ``a_short_id`` of ``a`` falls in, with event counts."""
        return tuple((flow.b, flow.events) for flow in self.flows if flow.a == a_short_id)


@dataclass(frozen=True, slots=True)
class Comparison:
    """Several strategies over the same events: each one's groups, and every pair
    (in the order given: first against second, first against third, …, second against third…)."""

    strategies: tuple[str, ...]
    groups: Mapping[str, tuple[Group, ...]]
    pairs: tuple[PairComparison, ...]
    counts: Mapping[str, int] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", {name: len(self.groups[name]) for name in self.strategies})

    def pair(self, a: str, b: str) -> PairComparison:
        for pair in self.pairs:
            if (pair.a, pair.b) == (a, b):
                return pair
        raise KeyError((a, b))


def _pair(
    a: str, b: str, a_groups: Sequence[Group], b_groups: Sequence[Group], joint: Counter[tuple[str, str]]
) -> PairComparison:
    a_order = {group.hash: index for index, group in enumerate(a_groups)}
    b_order = {group.hash: index for index, group in enumerate(b_groups)}
    cells = sorted(joint.items(), key=lambda cell: (a_order[cell[0][0]], -cell[1], b_order[cell[0][1]]))
    flows = tuple(
        Flow(a_hash[:SHORT_ID_LENGTH], b_hash[:SHORT_ID_LENGTH], events) for (a_hash, b_hash), events in cells
    )
    spread: Counter[str] = Counter(a_hash for a_hash, _ in joint)
    fed: Counter[str] = Counter(b_hash for _, b_hash in joint)
    return PairComparison(
        a=a,
        b=b,
        flows=flows,
        splits=tuple(group.short_id for group in a_groups if spread[group.hash] > 1),
        merges=tuple(group.short_id for group in b_groups if fed[group.hash] > 1),
    )


class Comparer:
    """Several strategies over the same events, pushed one at a time (``add``), mergeable
    (``merge``: as if ``other``'s events were read after, exact unless :attr:`truncated`);
    :meth:`result` at the end. :func:`compare` uses it."""

    def __init__(self, strategies: Sequence[str], max_ids: int = MAX_IDS) -> None:
        self.names = tuple(dict.fromkeys(strategies))
        if len(self.names) < 2:
            raise ValueError("compare needs two or more different strategies")
        self.groupers = [Grouper(name, max_ids) for name in self.names]
        self.joint: Counter[tuple[str, ...]] = Counter()  # one cell per distinct combination of groups

    def add(self, event: Mapping[str, Any], data: Mapping[str, Any]) -> None:
        self.joint[tuple([grouper.add(event, data) for grouper in self.groupers])] += 1

    @property
    def truncated(self) -> bool:
        return any(grouper.truncated for grouper in self.groupers)

    def feed(self, records: Iterable[RecordLike], malformed: Malformed | None = None) -> None:
        """Add the error events of ``records``; records that cannot be read are counted in
        ``malformed`` (the one feeding rule of :func:`compare` and ``group compare --jobs``)."""
        each_event(records, ERRORS, self.add, malformed)

    def merge(self, other: Comparer) -> None:
        for mine, theirs in zip(self.groupers, other.groupers, strict=True):
            mine.merge(theirs)
        self.joint.update(other.joint)

    def result(self) -> Comparison:
        names = self.names
        groups = {name: tuple(grouper.groups()) for name, grouper in zip(names, self.groupers, strict=True)}
        pairs = []
        for i, a in enumerate(names):
            for j in range(i + 1, len(names)):
                b = names[j]
                cells: Counter[tuple[str, str]] = Counter()
                for hashes, events in self.joint.items():
                    cells[(hashes[i], hashes[j])] += events
                pairs.append(_pair(a, b, groups[a], groups[b], cells))
        return Comparison(strategies=names, groups=groups, pairs=tuple(pairs))


def compare(
    records: Iterable[RecordLike],
    strategies: Sequence[str],
    *,
    max_ids: int = MAX_IDS,
    malformed: Malformed | None = None,
) -> Comparison:
    """Group the error events of ``records`` with each of ``strategies`` (two or more
    names from :data:`STRATEGIES`) in one pass, and say where each pair splits or merges."""
    comparer = Comparer(strategies, max_ids)
    comparer.feed(records, malformed)
    return comparer.result()
