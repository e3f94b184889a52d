"""``sourcemaps check`` as the releases section takes it (its ``Frames`` protocol): fed
record views, mergeable, and per release the in-app JavaScript frames that resolve."""

from __future__ import annotations

from collections.abc import Mapping

from sentry_mirror.core.report.view import RecordView
from sentry_mirror.core.sourcemaps import SourcemapCheck, symbolic_available


class ReportFrames:
    """:class:`~sentry_mirror.core.sourcemaps.check.SourcemapCheck` behind the report's
    interface. Resolution happens once, when :meth:`per_release` is first asked (it needs
    symbolic: :func:`frames_for_report` gives None without it)."""

    def __init__(self) -> None:
        self.check = SourcemapCheck()
        self._per_release: Mapping[str | None, tuple[int, int]] | None = None

    def add(self, view: RecordView) -> None:
        if view.data.get("endpoint") == "upload":
            self.check.add(view.data)
        else:  # the events the report parsed already (accepted records only)
            for payload, kind in view.payloads:
                if kind == "event":
                    self.check.add_event(payload, view.data.get("id"))
        self._per_release = None

    def merge(self, other: ReportFrames) -> None:
        self.check.merge(other.check)
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
