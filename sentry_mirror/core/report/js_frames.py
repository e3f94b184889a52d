"""``sourcemaps check`` as the releases section takes it (its ``Frames`` protocol): fed
record views, mergeable, and per release the in-app JavaScript frames that resolve.

Nothing is worth resolving before sentry-cli's traffic is seen: a report over snapshots with
no upload or web API record has no releases section. So error events read before the first
such record that have JavaScript frames or images wait, as the check reads them (a few fields
each, not the payload), in a buffer of :data:`MAX_PENDING` (given to the check when that record
comes, dropped when none does); past the buffer they are counted, not checked
(:attr:`ReportFrames.unchecked`). Keeping every JavaScript event from the start cost a
report over 30,000 of them, with no uploads, 110 MB more (docs/report.md).
"""

from __future__ import annotations

from collections.abc import Mapping

from sentry_mirror.core.report.view import RecordView
from sentry_mirror.core.sourcemaps import SourcemapCheck, symbolic_available
from sentry_mirror.core.sourcemaps.events import Event, read_event

#: Error events kept, before the first upload or web API record, for the check.
MAX_PENDING = 1000


class ReportFrames:
    """:class:`~sentry_mirror.core.sourcemaps.check.SourcemapCheck` behind the report's
    interface. Resolution happens once, when :meth:`per_release` is first asked (it needs
    symbolic: :func:`frames_for_report` gives None without it)."""

    def __init__(self) -> None:
        self.check = SourcemapCheck()
        #: an upload or web API record was read: events go to the check as they come
        self.ci = False
        self.pending: list[Event] = []
        #: error events that may have JavaScript frames, read before any upload or web API
        #: record past the buffer: not checked
        self.unchecked = 0
        self._per_release: Mapping[str | None, tuple[int, int]] | None = None

    def add(self, view: RecordView) -> None:
        endpoint = view.endpoint
        if endpoint == "upload" or endpoint.startswith("api_"):
            self._ci()
            if endpoint == "upload":
                self.check.add(view.data)
        else:  # the events the report parsed already (accepted records only)
            for payload, kind in view.payloads:
                if kind == "event":
                    self.add_read(read_event(payload, view.data.get("id")))
        self._per_release = None

    def add_read(self, event: Event | None) -> None:
        """One error event as :func:`~sentry_mirror.core.sourcemaps.events.read_event` read it
        (the releases section reads each event once and hands it on)."""
        self._per_release = None
        if self.ci:
            self.check.add_read(event)
        elif event is None:
            return  # no JavaScript frame or image to check
        elif len(self.pending) < MAX_PENDING:
            self.pending.append(event)
        else:
            self.unchecked += 1

    def _ci(self) -> None:
        """The first upload or web API record: the events waiting go to the check."""
        if not self.ci:
            self.ci = True
            for event in self.pending:
                self.check.add_read(event)
            self.pending = []

    def merge(self, other: ReportFrames) -> None:
        """Add what ``other`` was fed, as if read after this one's records (exact while
        neither buffer overflowed)."""
        if other.ci:
            self._ci()  # this one's waiting events were read first
        self.check.merge(other.check)
        for event in other.pending:
            self.add_read(event)
        self.unchecked += other.unchecked
        self._per_release = None

    def per_release(self) -> Mapping[str | None, tuple[int, int]]:
        """Per release (None: events without one): ``(in-app frames resolved, in-app frames)``."""
        if self._per_release is None:
            self._per_release = self.check.result().in_app_by_release
        return self._per_release


def frames_for_report() -> ReportFrames | None:
    """The share of in-app JavaScript frames that resolve, for the releases section: None
    (unknown) when Sentry's symbolic, the optional ``sourcemaps`` extra, is not installed."""
    return ReportFrames() if symbolic_available() else None
