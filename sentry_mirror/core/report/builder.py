"""The builder: reads each record once and feeds it to every section's aggregator.

:class:`ReportBuilder` makes one :class:`~.view.RecordView` per record (the envelope's JSON
items decoded once) and hands it to each aggregator of :attr:`ReportBuilder.sections`, in
:data:`~.result.SECTIONS` order. Each aggregator is fed the records it reads (``reads``:
every record, or those carrying payloads of some item types). A record an aggregator fails on
is counted as malformed (and named to the ``Malformed``'s ``on_warning``): the aggregators fed
before it have counted it, those after have not. Adding a section is writing its aggregator module
(:class:`~.view.Aggregator`) and listing it in :meth:`ReportBuilder.__init__`. The ``releases``
aggregator is made only when that section is wanted (it keeps JavaScript events for
``sourcemaps check``), and so are the ``behaviour`` one (it keeps a timeline of every request)
and the ``normalization`` one (it asks Relay about every event).

Answer records (forward mode, :mod:`sentry_mirror.core.answer`) feed the ``upstream`` section
only (:mod:`.upstream`), and only it: they are told from request records by their ``kind``
(one look-up per record) before any view is made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sentry_mirror.core import answer, pii
from sentry_mirror.core.malformed import FATAL, Malformed
from sentry_mirror.core.record import Record
from sentry_mirror.core.report.behaviour import Behaviour
from sentry_mirror.core.report.bounded import by_count
from sentry_mirror.core.report.dropped import Dropped
from sentry_mirror.core.report.fields import Fields
from sentry_mirror.core.report.health import Health
from sentry_mirror.core.report.issues import TOP_GROUPS, Issues
from sentry_mirror.core.report.js_frames import frames_for_report
from sentry_mirror.core.report.normalization import Normalization
from sentry_mirror.core.report.performance import Performance
from sentry_mirror.core.report.pii import Pii
from sentry_mirror.core.report.releases import Releases
from sentry_mirror.core.report.result import DEFAULT_SECTIONS, EVERY_SECTION, OPTIONAL_SECTIONS, Report
from sentry_mirror.core.report.server import Server
from sentry_mirror.core.report.sourcemaps import Sourcemaps
from sentry_mirror.core.report.traffic import Traffic
from sentry_mirror.core.report.upstream import Upstream
from sentry_mirror.core.report.view import Aggregator, RecordView
from sentry_mirror.core.report.walker import Walker
from sentry_mirror.core.tolerant import Remarks


class ReportBuilder:
    """Feed it record dicts with :meth:`add`, then :meth:`build` the :class:`Report` (of the
    ``sections`` given here, or fewer). :meth:`merge` adds what another builder (made for the
    same sections) was fed (see each section's ``merge``)."""

    def __init__(
        self,
        *,
        sections: Iterable[str] = DEFAULT_SECTIONS,
        top_groups: int = TOP_GROUPS,
        scan_pii: bool = True,
        pii_engine: str = pii.ENGINE,
        malformed: Malformed | None = None,
    ) -> None:
        self.remarks = Remarks()
        self.malformed = malformed if malformed is not None else Malformed(where="report")
        self.walker = Walker()
        self.personal = Pii(self.walker, engine=pii_engine, scan=scan_pii)
        self.traffic = Traffic()
        self.issues = Issues(top_groups)
        self.performance = Performance(self.remarks)
        self.upstream = Upstream()
        self.behaviour = Behaviour() if "behaviour" in set(sections) else None
        self.releases = Releases(frames_for_report()) if "releases" in set(sections) else None
        self.normalization = Normalization() if "normalization" in set(sections) else None
        self.sections: dict[str, Aggregator] = {
            "traffic": self.traffic,
            "fields": Fields(self.walker, self.personal if self.personal.one_walk else None),
            "issues": self.issues,
            "performance": self.performance,
            "health": Health(self.remarks),
            "dropped": Dropped(self.remarks),
            "pii": self.personal,
            "sourcemaps": Sourcemaps(self.remarks),
            "server": Server(self.traffic),
            "upstream": self.upstream,
            **({"releases": self.releases} if self.releases is not None else {}),
            **({"behaviour": self.behaviour} if self.behaviour is not None else {}),
            **({"normalization": self.normalization} if self.normalization is not None else {}),
        }
        #: the aggregators fed every record, and those fed the records carrying payloads of
        #: these item types (in the order met), made when first needed
        self._every = [aggregator for aggregator in self.sections.values() if aggregator.reads is None]
        self._routes: dict[tuple[str, ...], list[Aggregator]] = {}

    def add(self, record: Record | Mapping[str, Any]) -> None:
        data = record.data if isinstance(record, Record) else record
        try:
            if answer.is_answer(data):
                self.upstream.answer(data)
                return
            view = RecordView(data)
            for aggregator in self._every:
                aggregator.add(view)
            payloads = view.payloads
            if payloads:
                kinds = tuple([kind for _, kind in payloads])
                route = self._routes.get(kinds)
                if route is None:
                    route = self._route(kinds)
                for aggregator in route:
                    aggregator.add(view)
        except FATAL:
            raise
        except Exception as exc:
            self.malformed.failed(data, exc)

    def _route(self, kinds: tuple[str, ...]) -> list[Aggregator]:
        """The aggregators that read payloads of ``kinds`` (kept for the next record alike)."""
        route = [a for a in self.sections.values() if a.reads is not None and not a.reads.isdisjoint(kinds)]
        if len(self._routes) < 1024:
            self._routes[kinds] = route
        return route

    def merge(self, other: ReportBuilder) -> None:
        """Add what ``other`` counted, as if its records were read after this one's."""
        for name, aggregator in self.sections.items():
            aggregator.merge(other.sections[name])
        self.remarks.merge(other.remarks)
        if other.malformed is not self.malformed:  # one shared counter already holds both
            self.malformed.merge(other.malformed)

    def build(self, sections: Iterable[str] = DEFAULT_SECTIONS) -> Report:
        """The report of the ``sections`` named; an optional one only when its records were
        read (``upstream``: answer records; ``releases``: upload or web API records;
        ``behaviour``: records a scripted rule answered; ``normalization``: events)."""
        read = {
            "upstream": self.upstream.count,
            "releases": self.releases.from_ci if self.releases else 0,
            "behaviour": self.behaviour.scripted if self.behaviour else 0,
            "normalization": self.normalization.events if self.normalization else 0,
        }
        wanted = set(sections) - {name for name in OPTIONAL_SECTIONS if not read[name]}
        groups = self.issues.groups()
        transactions = self.performance.groups()
        results = {}
        for name in EVERY_SECTION:
            if name not in wanted:
                continue
            if name == "issues":
                results[name] = self.issues.result_of(groups)
            elif name == "performance":
                results[name] = self.performance.result_of(transactions)
            else:
                results[name] = self.sections[name].result()
        malformed = {**self.malformed.to_json(), "fields": by_count(self.remarks)}
        return Report(results, groups, transactions, malformed=malformed)


def build_report(
    records: Iterable[Record | Mapping[str, Any]],
    sections: Iterable[str] = DEFAULT_SECTIONS,
    *,
    top_groups: int = TOP_GROUPS,
    pii_engine: str = pii.ENGINE,
    malformed: Malformed | None = None,
) -> Report:
    """The :class:`Report` of ``records`` (one pass), with the ``sections`` named. A record
    the builder fails on is counted in ``malformed`` (and named to its ``on_warning``), and
    the report goes on.

    ``pii_engine="relay"`` asks Sentry's own scrubber (the ``sentry-relay`` package) what its
    default scrubbing removes from events and transactions, instead of the built-in rules
    (other items keep the built-in answer); the section then lists where the two disagree."""
    wanted = set(sections)
    unknown = wanted - set(EVERY_SECTION)
    if unknown:
        raise ValueError(f"unknown report sections: {', '.join(sorted(unknown))}")
    builder = ReportBuilder(
        sections=wanted, top_groups=top_groups, scan_pii="pii" in wanted, pii_engine=pii_engine, malformed=malformed
    )
    for record in records:
        builder.add(record)
    return builder.build(wanted)
