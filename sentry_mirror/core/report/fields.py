"""Section 2, ``fields``: per item type and SDK, every JSON path with its coverage, value
types, distinct values and an example (:mod:`.coverage`); highlights of the fields a server
UI needs, over error events (:class:`Highlights`).

The first :data:`MAX_SDKS` SDKs per item type get a coverage, the rest are counted together
under :data:`~.bounded.OTHER`. The payloads are walked by the report's :class:`~.walker.Walker`;
when the ``pii`` section scans with the built-in rules, the same walk finds the personal data
(one walk per payload) and the section is told after each (:meth:`~.pii.Pii.walked`).

Merging is exact while the reservoirs of the highlights hold every value (see
:mod:`.bounded` and :meth:`.coverage.FieldCoverage.merge`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sentry_mirror.core import grouping
from sentry_mirror.core.report.bounded import OTHER, Json, Reservoir, share
from sentry_mirror.core.report.coverage import FieldCoverage
from sentry_mirror.core.report.view import JSON_ITEM_TYPES, RecordView
from sentry_mirror.core.report.walker import Walker

if TYPE_CHECKING:
    from sentry_mirror.core.report.pii import Pii

MAX_SDKS = 50


class Fields:
    """The ``fields`` aggregator. With ``personal``, its walks also scan for personal data."""

    reads = JSON_ITEM_TYPES

    def __init__(self, walker: Walker, personal: Pii | None = None) -> None:
        self.walker = walker
        self.personal = personal
        self.coverage: dict[tuple[str, str], FieldCoverage] = {}
        self.sdks_per_type: dict[str, int] = {}
        self.highlights = Highlights()

    def add(self, view: RecordView) -> None:
        sdk_name = view.sdk_name
        personal = self.personal
        for payload, kind in view.payloads:  # (the builder gives only records with some)
            coverage = self.coverage.get((kind, sdk_name)) or self._coverage(kind, sdk_name)
            if personal is not None:
                coverage.add(payload, personal.scanner.root(kind))
                personal.walked(kind)
            else:
                coverage.add(payload)
            if kind == "event":
                self.highlights.add(payload)

    def _coverage(self, kind: str, sdk_name: str) -> FieldCoverage:
        key = (kind, sdk_name)
        coverage = self.coverage.get(key)
        if coverage is None:
            sdks = self.sdks_per_type.get(kind, 0)
            if sdks >= MAX_SDKS:
                key = (kind, OTHER)
                coverage = self.coverage.get(key)
            else:
                self.sdks_per_type[kind] = sdks + 1
            if coverage is None:
                coverage = self.coverage[key] = FieldCoverage(self.walker)
        return coverage

    def merge(self, other: Fields) -> None:
        for (kind, sdk_name), theirs in other.coverage.items():
            self._coverage(kind, sdk_name).merge(theirs)
        self.highlights.merge(other.highlights)

    def result(self) -> Json:
        self.walker.flush()
        types = [coverage.to_json(kind, sdk) for (kind, sdk), coverage in sorted(self.coverage.items())]
        return {"types": types, "highlights": self.highlights.to_json()}


# ---------------------------------------------------------------- event highlights

#: What the highlights count events carrying (contexts: an object under that name).
_PRESENT = (
    "exception", "stack frames", "breadcrumbs", "user", "request", "tags", "contexts.os", "contexts.browser",
    "contexts.runtime", "contexts.device", "contexts.trace", "release", "environment", "server_name", "modules",
)  # fmt: skip


def _breadcrumbs(event: Mapping[str, Any]) -> list[Any]:
    crumbs = event.get("breadcrumbs")
    values = crumbs.get("values") if isinstance(crumbs, dict) else crumbs
    return values if isinstance(values, list) else []


class Highlights:
    """What error events carry: exception chains, frames, breadcrumbs, and the fields of :data:`_PRESENT`."""

    def __init__(self) -> None:
        self.events = 0
        self.chain = Reservoir()
        self.breadcrumbs = Reservoir()
        self.frames = self.with_context = self.in_app = self.with_vars = 0
        self.present: dict[tuple[bool, ...], int] = {}  # at most 2**15 combinations

    def add(self, event: Mapping[str, Any]) -> None:
        self.events += 1
        exceptions = grouping.exceptions_of(event)
        if exceptions:
            self.chain.add(len(exceptions))
        crumbs = _breadcrumbs(event)
        self.breadcrumbs.add(len(crumbs))
        frames = [f for x in exceptions for f in grouping.frames_of(x)] or grouping.event_frames(event)
        get = event.get
        user, request, contexts = get("user"), get("request"), get("contexts")
        if not isinstance(contexts, dict):
            contexts = {}
        # the _PRESENT tests, in their order (one count per combination, added up in to_json)
        present = (
            bool(exceptions), bool(frames), bool(crumbs), isinstance(user, dict) and bool(user),
            isinstance(request, dict) and bool(request), bool(get("tags")),
            isinstance(contexts.get("os"), dict), isinstance(contexts.get("browser"), dict),
            isinstance(contexts.get("runtime"), dict), isinstance(contexts.get("device"), dict),
            isinstance(contexts.get("trace"), dict), bool(get("release")), bool(get("environment")),
            bool(get("server_name")), bool(get("modules")),
        )  # fmt: skip
        self.present[present] = self.present.get(present, 0) + 1
        with_context = in_app = with_vars = 0
        for frame in frames:
            with_context += bool(frame.get("context_line"))
            in_app += frame.get("in_app") is True
            with_vars += bool(frame.get("vars"))
        self.frames += len(frames)
        self.with_context += with_context
        self.in_app += in_app
        self.with_vars += with_vars

    def merge(self, other: Highlights) -> None:
        self.events += other.events
        self.chain.merge(other.chain)
        self.breadcrumbs.merge(other.breadcrumbs)
        self.frames += other.frames
        self.with_context += other.with_context
        self.in_app += other.in_app
        self.with_vars += other.with_vars
        for flags, n in other.present.items():
            self.present[flags] = self.present.get(flags, 0) + n

    def to_json(self) -> Json:
        chain = self.chain.to_json()
        crumbs = self.breadcrumbs.to_json()
        return {
            "events": self.events,
            "exception_chain": {k: chain[k] for k in ("count", "p50", "p95", "max")},
            "frames": self.frames,
            "frames_with_context": share(self.with_context, self.frames),
            "frames_in_app": share(self.in_app, self.frames),
            "frames_with_vars": share(self.with_vars, self.frames),
            "breadcrumbs": {k: crumbs[k] for k in ("count", "p50", "p95", "max")},
            "present": {
                name: share(sum(n for flags, n in self.present.items() if flags[index]), self.events)
                for index, name in enumerate(_PRESENT)
            },
        }
